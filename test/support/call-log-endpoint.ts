import type { FlowNode } from './node-red-process';

/**
 * The nodes of a call-log endpoint as the fault suite and the soak feed it, with the nodes at
 * their defaults: `http in` (POST `url`) -> sangam-call-log `log` -> `http response` (200: the CRM
 * stored the records), and a Catch that answers 202 only when the node's error says the records
 * are kept in the outbox, 500 for any other error. Ids other than `log` start with `prefix`.
 */
export function callLogEndpoint(z: string, options: { url: string; server: string; prefix?: string; catchOnlyLog?: boolean }): FlowNode[] {
  const id = (name: string): string => `${options.prefix ?? ''}${name}`;
  return [
    { id: id('in'), type: 'http in', z, url: options.url, method: 'post', upload: false, swaggerDoc: '', wires: [['log']] },
    // Default settings: batching, retries and the outbox as a user gets them.
    { id: 'log', type: 'sangam-call-log', z, server: options.server, wires: [[id('ok')]] },
    { id: id('ok'), type: 'http response', z, statusCode: '', headers: {}, wires: [] },
    { id: id('catcher'), type: 'catch', z, scope: options.catchOnlyLog ? ['log'] : null, uncaught: false, wires: [[id('kept')]] },
    {
      id: id('kept'),
      type: 'function',
      z,
      // 202 only for records the node says it kept in the outbox; anything else is a 500.
      func:
        "const text = msg.error && msg.error.message || '';\n" +
        'msg.statusCode = /kept in the outbox/.test(text) ? 202 : 500;\n' +
        'msg.payload = { error: text };\n' +
        'return msg;',
      outputs: 1,
      libs: [],
      wires: [[id('answer-error')]],
    },
    { id: id('answer-error'), type: 'http response', z, statusCode: '', headers: {}, wires: [] },
  ];
}

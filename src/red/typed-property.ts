import type { Node, NodeAPI, NodeMessage } from 'node-red';

/**
 * A TypedInput property (value + type). Types that cannot change per msg (str, env) are evaluated
 * once; flow and global are read for each msg, as users of TypedInput expect.
 */
export function typedProperty(
  RED: NodeAPI,
  node: Node,
  value: unknown,
  type: unknown,
): (msg: NodeMessage) => unknown {
  const text = typeof value === 'string' ? value : '';
  const kind = typeof type === 'string' && type !== '' ? type : 'str';
  if (text === '') return () => undefined;
  if (kind === 'str' || kind === 'env') {
    const fixed: unknown = RED.util.evaluateNodeProperty(text, kind, node, {});
    return () => fixed;
  }
  return (msg) => RED.util.evaluateNodeProperty(text, kind, node, msg);
}

/** msg.ivrName, else the node's ivrName, else the config's: the contract's order. */
export function pickIvrName(msgValue: unknown, nodeValue: unknown, configValue: string): unknown {
  if (msgValue !== undefined && msgValue !== null && msgValue !== '') return msgValue;
  if (nodeValue !== undefined && nodeValue !== null && nodeValue !== '') return nodeValue;
  return configValue;
}

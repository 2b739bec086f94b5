/**
 * Every editor validator of the five node definitions, as the real editor runs them (the packed
 * package's .html in a browser): the verdict for good and bad values, a translated message (never
 * a bare catalog key, never an unfilled __placeholder__) for bad ones, and valid defaults.
 *
 * This is also the safety net for moving the validators that the .html files repeat into one
 * shared script: the same table must pass before and after.
 */
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { type PackedNodeRed, sharedNodeRed } from './support/packed-node-red';
import { SERVICE_URL_CASES, type ServiceUrlCase } from '../cases/service-url-cases';
import { readCallLogSettings } from '../../src/sangam/call-log-settings';
import { type EditorPage, launchChromium, openEditor } from './support/editor-page';

/** [type, property, value, valid, other properties of the node being validated] */
type ValidatorCase = [string, string, string | number, boolean, Record<string, unknown>?];

const CASES: ValidatorCase[] = [
  // Domains and subdomains: the shared table below (SERVICE_URL_CASES), plus the ${NAME} cases.
  ['sangam-config', 'domain', '${SANGAM_DOMAIN}', true],
  ['sangam-config', 'timezone', 'Asia/Kolkata', true],
  ['sangam-config', 'timezone', '', true],
  ['sangam-config', 'timezone', 'Mars/Olympus', false],
  ['sangam-config', 'timezone', '+05:30', false],
  ['sangam-config', 'ivrName', 'pbx-1', true],
  ['sangam-config', 'ivrName', 'my pbx', false],
  ['sangam-config', 'timeout', 99, false],
  ['sangam-config', 'timeout', '10000', true],
  ['sangam-config', 'maxSockets', 257, false],
  ['sangam-config', 'maxSockets', '1', true],
  ['sangam-config', 'outboxMaxRecords', 99, false],
  ['sangam-config', 'outboxMaxRecords', '10000000', true],
  ['sangam-call-log', 'batchSize', 0, false],
  ['sangam-call-log', 'batchSize', 1, true],
  ['sangam-call-log', 'batchSize', '1000', true],
  ['sangam-call-log', 'batchSize', 1001, false],
  ['sangam-call-log', 'batchSize', '2.5', false],
  ['sangam-call-log', 'batchSize', '', false],
  ['sangam-call-log', 'batchWindow', 0, true],
  ['sangam-call-log', 'batchWindow', 10001, false],
  ['sangam-call-log', 'concurrency', 65, false],
  ['sangam-call-log', 'concurrency', 64, true],
  ['sangam-call-log', 'retries', 21, false],
  ['sangam-call-log', 'retries', 0, true],
  ['sangam-call-log', 'ivrName', 'pbx 1', false, { ivrNameType: 'str' }],
  ['sangam-call-log', 'ivrName', '', true, { ivrNameType: 'str' }],
  ['sangam-call-log', 'ivrName', 'IVR_NAME', true, { ivrNameType: 'env' }],
  ['sangam-call-log', 'ivrName', '', false, { ivrNameType: 'flow' }],
  ['sangam-call-log', 'inputFormat', 'exotel', true],
  ['sangam-call-log', 'inputFormat', 'csv', false],
  ['sangam-notify', 'maxAge', 0, true],
  ['sangam-notify', 'maxAge', -1, false],
  ['sangam-notify', 'maxAge', 86401, false],
  ['sangam-notify', 'retries', 6, false],
  ['sangam-notify', 'retries', 5, true],
  ['sangam-notify', 'ivrName', 'a b', false, { ivrNameType: 'str' }],
  ['exotel-config', 'accountSid', 'acme_1-x', true],
  ['exotel-config', 'accountSid', 'acme 1', false],
  ['exotel-config', 'callerId', '+918047112233', true],
  ['exotel-config', 'callerId', '080-4711-2233', true],
  ['exotel-config', 'callerId', '0804711223X', false],
  ['exotel-config', 'callerId', '123', false],
  ['exotel-config', 'rateLimit', 0, false],
  ['exotel-config', 'rateLimit', 200, true],
  ['exotel-click2call', 'callerId', '08047ABC', false],
  ['exotel-click2call', 'callerId', '', true],
  ['exotel-click2call', 'callerId', '08047112233', true],
  ['exotel-click2call', 'timeLimit', '', true],
  ['exotel-click2call', 'timeLimit', 14400, true],
  ['exotel-click2call', 'timeLimit', 14401, false],
  ['exotel-click2call', 'timeLimit', 0, false],
  ['exotel-click2call', 'timeOut', '1.5', false],
  ['exotel-click2call', 'timeOut', '30', true],
  ['exotel-click2call', 'customField', 'x'.repeat(128), true],
  ['exotel-click2call', 'customField', 'x'.repeat(129), false],
  ['exotel-click2call', 'statusCallback', 'https://hooks.example.com/exotel', true],
  ['exotel-click2call', 'statusCallback', 'hooks.example.com', false],
  ['exotel-click2call', 'statusCallback', 'ftp://hooks.example.com', false],
  ['exotel-click2call', 'waitUrl', 'nope', false],
  ['exotel-click2call', 'statusCallbackEvents', 'terminal,answered', true],
  ['exotel-click2call', 'statusCallbackEvents', 'bogus', false],
  ['exotel-click2call', 'statusCallbackContentType', 'application/json', true],
  ['exotel-click2call', 'statusCallbackContentType', 'text/plain', false],
  ['exotel-click2call', 'recordingChannels', 'dual', true],
  ['exotel-click2call', 'recordingChannels', 'stereo', false],

  // A whole-value ${NAME} reference (what the example flows use) is replaced by Node-RED at deploy
  // time: every validated free-text property accepts it. Near misses are still checked as values.
  ['sangam-config', 'domain', '${SANGAM_DOMAIN}', true, { allowInsecure: false }],
  ['sangam-config', 'domain', '${SANGAM_DOMAIN}/api', false],
  ['sangam-config', 'domain', 'http://${SANGAM_HOST}', false],
  ['sangam-config', 'ivrName', '${SANGAM_IVR_NAME}', true],
  ['sangam-config', 'ivrName', '${SANGAM IVR}', false],
  ['sangam-config', 'timezone', '${SANGAM_TIMEZONE}', true],
  ['sangam-config', 'timezone', '${SANGAM_TIMEZONE', false],
  ['sangam-config', 'timeout', '${SANGAM_TIMEOUT}', true],
  ['sangam-config', 'timeout', '${}', false],
  ['sangam-config', 'maxSockets', '${SANGAM_MAX_SOCKETS}', true],
  ['sangam-config', 'outboxMaxRecords', '${SANGAM_OUTBOX_MAX}', true],
  ['sangam-call-log', 'batchSize', '${BATCH_SIZE}', true],
  ['sangam-call-log', 'batchSize', ' ${BATCH_SIZE}', false],
  ['sangam-call-log', 'batchSize', '$BATCH_SIZE', false],
  ['sangam-call-log', 'batchWindow', '${BATCH_WINDOW}', true],
  ['sangam-call-log', 'concurrency', '${CONCURRENCY}', true],
  ['sangam-call-log', 'retries', '${RETRIES}', true],
  ['sangam-call-log', 'ivrName', '${SANGAM_IVR_NAME}', true, { ivrNameType: 'str' }],
  ['sangam-notify', 'ivrName', '${SANGAM_IVR_NAME}', true, { ivrNameType: 'str' }],
  ['sangam-notify', 'maxAge', '${MAX_AGE}', true],
  ['sangam-notify', 'retries', '${RETRIES}', true],
  ['exotel-config', 'accountSid', '${EXOTEL_SID}', true],
  ['exotel-config', 'accountSid', '$EXOTEL_SID', false],
  ['exotel-config', 'subdomain', '${EXOTEL_SUBDOMAIN}', true],
  ['exotel-config', 'subdomain', '${EXOTEL_SUBDOMAIN}/v1', false],
  ['exotel-config', 'callerId', '${EXOTEL_CALLER_ID}', true],
  ['exotel-config', 'callerId', '${EXOTEL_CALLER_ID}9', false],
  ['exotel-config', 'rateLimit', '${EXOTEL_RATE_LIMIT}', true],
  ['exotel-config', 'timeout', '${EXOTEL_TIMEOUT}', true],
  ['exotel-click2call', 'callerId', '${EXOTEL_CALLER_ID}', true],
  ['exotel-click2call', 'timeLimit', '${TIME_LIMIT}', true],
  ['exotel-click2call', 'timeOut', '${TIME_OUT}', true],
  ['exotel-click2call', 'waitUrl', '${EXOTEL_WAIT_URL}', true],
  ['exotel-click2call', 'customField', '${CUSTOM_FIELD}', true],
  ['exotel-click2call', 'statusCallback', '${EXOTEL_STATUS_CALLBACK_URL}', true],
  ['exotel-click2call', 'statusCallback', '${EXOTEL_HOST}/exotel', false],
];

/** What one validator said, with and without the `opt` argument Node-RED passes for messages. */
interface Verdict {
  withoutOpt: unknown;
  withOpt: unknown;
}

type ValidateFunction = (this: Record<string, unknown>, value: unknown, opt?: object) => unknown;

/** The editor's registry entry of a type, as far as validation goes. */
interface TypeDefinition {
  defaults: Record<string, { value: unknown; required?: boolean; validate?: ValidateFunction }>;
}

interface RegistryGlobals {
  RED: { nodes: { getType(type: string): (TypeDefinition & { _(key: string): string }) | null } };
}

describe('editor validators, in the browser', function () {
  let nodeRed: PackedNodeRed;
  let browser: Browser;
  let editor: EditorPage;

  before(async function () {
    this.timeout(300_000);
    nodeRed = await sharedNodeRed();
    browser = await launchChromium();
    editor = await openEditor(browser, nodeRed);
  });

  after(async function () {
    await editor?.context.close();
    await browser?.close();
  });

  it('give the expected verdict and a translated message for every case', async function () {
    const verdicts = await editor.page.evaluate((cases) => {
      const { RED } = globalThis as unknown as RegistryGlobals;
      return cases.map(([type, property, value, , extra]): Verdict => {
        const definition = RED.nodes.getType(type);
        const validate = definition?.defaults[property]?.validate;
        if (!validate) return { withoutOpt: `no validator for ${type}.${property}`, withOpt: undefined };
        const node = { type, _def: definition, ...extra };
        return { withoutOpt: validate.call(node, value), withOpt: validate.call(node, value, {}) };
      });
    }, CASES);

    const wrong: string[] = [];
    CASES.forEach(([type, property, value, valid], index) => {
      const { withoutOpt, withOpt } = verdicts[index]!;
      const label = `${type}.${property} = ${JSON.stringify(value).slice(0, 40)}`;
      if (valid) {
        if (withoutOpt !== true || withOpt !== true) wrong.push(`${label}: expected valid, got ${String(withoutOpt)} / ${String(withOpt)}`);
        return;
      }
      if (withoutOpt !== false) wrong.push(`${label}: expected false without opt, got ${String(withoutOpt)}`);
      if (typeof withOpt !== 'string') {
        wrong.push(`${label}: expected a message with opt, got ${String(withOpt)}`);
      } else if (/\.errors\.|^[a-zA-Z]+$|__\w+__/.test(withOpt)) {
        // A bare key ("range"), a catalog path or an unfilled parameter means the catalog lacks the message.
        wrong.push(`${label}: message is not translated: ${withOpt}`);
      }
    });
    assert.deepEqual(wrong, []);
  });

  it('agree with the runtime on every case of the shared domain table, for sangam-config.domain and exotel-config.subdomain, with the message of the problem', async function () {
    const fields: Array<[string, string]> = [['sangam-config', 'domain'], ['exotel-config', 'subdomain']];
    const wrong = await editor.page.evaluate(
      ({ cases, fields }) => {
        const { RED } = globalThis as unknown as RegistryGlobals;
        const found: string[] = [];
        for (const [type, field] of fields) {
          const definition = RED.nodes.getType(type)!;
          const validate = definition.defaults[field]!.validate!;
          for (const { input, allowInsecure, problem } of cases as ServiceUrlCase[]) {
            const node = { type, _def: definition, allowInsecure: allowInsecure ?? false };
            const verdict = validate.call(node, input);
            const message = validate.call(node, input, {});
            const label = `${type}.${field} = ${JSON.stringify(input)} allowInsecure=${String(allowInsecure ?? false)}`;
            if (problem === null) {
              if (verdict !== true || message !== true) found.push(`${label}: expected valid, got ${String(verdict)} / ${String(message)}`);
            } else {
              const expected = definition._(`${type}.errors.${field}${problem}`);
              if (verdict !== false || message !== expected) found.push(`${label}: expected false / "${expected}", got ${String(verdict)} / ${String(message)}`);
            }
          }
        }
        return found;
      },
      { cases: SERVICE_URL_CASES, fields },
    );
    assert.deepEqual(wrong, []);
  });

  it('accept every default value as it is', async function () {
    const invalidDefaults = await editor.page.evaluate((types) => {
      const { RED } = globalThis as unknown as RegistryGlobals;
      const invalid: string[] = [];
      for (const type of types) {
        const definition = RED.nodes.getType(type);
        if (!definition) {
          invalid.push(`${type}: not registered`);
          continue;
        }
        const node: Record<string, unknown> = { type, _def: definition };
        for (const [property, spec] of Object.entries(definition.defaults)) node[property] = spec.value;
        for (const [property, spec] of Object.entries(definition.defaults)) {
          // A required field with an empty default (the domain, the account SID) is meant to be filled in.
          if (!spec.validate || (spec.required && spec.value === '')) continue;
          const verdict = spec.validate.call(node, spec.value, {});
          if (verdict !== true) invalid.push(`${type}.${property} = ${JSON.stringify(spec.value)}: ${String(verdict)}`);
        }
      }
      return invalid;
    }, ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call']);
    assert.deepEqual(invalidDefaults, []);
  });

  it('give a new call log node the batching the runtime uses for a flow that leaves it out', async function () {
    const inEditor = await editor.page.evaluate(() => {
      const { RED } = globalThis as unknown as RegistryGlobals;
      const defaults = RED.nodes.getType('sangam-call-log')!.defaults;
      return Object.fromEntries(['batchSize', 'batchWindow', 'concurrency', 'retries'].map((property) => [property, defaults[property]?.value]));
    });
    // A flow written by hand or by an older editor may omit them: the runtime falls back to these.
    const runtime = readCallLogSettings({});
    assert.deepEqual(inEditor, {
      batchSize: runtime.maxBatchSize,
      batchWindow: runtime.windowMs,
      concurrency: runtime.concurrency,
      retries: runtime.retry.retries,
    });
  });
});

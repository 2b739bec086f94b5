// Runs the editor definitions headless (no browser, no jQuery, a bare RED) and checks that every
// validator gives the expected verdict: node dev/editor-preview/validators.js
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const assert = require('assert');

const defs = {};
const RED = { nodes: { registerType: (type, def) => { defs[type] = def; }, getType: () => undefined } };
for (const type of ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call']) {
  const html = fs.readFileSync(path.join(__dirname, '../../nodes', type + '.html'), 'utf8');
  const re = /<script type="text\/javascript">([\s\S]*?)<\/script>/g;
  let m;
  while ((m = re.exec(html))) vm.runInNewContext(m[1], { RED, URL, Intl });
  assert.ok(defs[type], type + ' registered');
  assert.ok(typeof defs[type].category === 'string');
}

const cases = [
  // [type, property, value, valid, extra node properties]
  ['sangam-config', 'domain', 'acme.sangamcrm.com', true],
  ['sangam-config', 'domain', 'crm.example.com:8443', true],
  ['sangam-config', 'domain', 'https://crm.example.com', true],
  ['sangam-config', 'domain', 'https://crm.example.com/', true],
  ['sangam-config', 'domain', 'http://127.0.0.1:8080', true],
  ['sangam-config', 'domain', 'http://localhost:8080', true],
  ['sangam-config', 'domain', 'http://[::1]:8080', true],
  ['sangam-config', 'domain', 'https://crm.example.com/api', false],
  ['sangam-config', 'domain', 'crm.example.com?x=1', false],
  ['sangam-config', 'domain', 'crm.example.com#x', false],
  ['sangam-config', 'domain', 'https://u:p@crm.example.com', false],
  ['sangam-config', 'domain', 'http://crm.example.com', false],
  ['sangam-config', 'domain', 'http://crm.example.com', true, { allowInsecure: true }],
  ['sangam-config', 'domain', 'ftp://crm.example.com', false],
  ['sangam-config', 'timezone', 'Asia/Kolkata', true],
  ['sangam-config', 'timezone', '', true],
  ['sangam-config', 'timezone', 'Mars/Olympus', false],
  ['sangam-config', 'timezone', '+05:30', false],
  ['sangam-config', 'ivrName', 'my pbx', false],
  ['sangam-config', 'timeout', 99, false],
  ['sangam-config', 'timeout', '10000', true],
  ['sangam-config', 'maxSockets', 257, false],
  ['sangam-config', 'outboxMaxRecords', 99, false],
  ['sangam-config', 'outboxMaxRecords', '10000000', true],
  ['sangam-call-log', 'batchSize', 0, false],
  ['sangam-call-log', 'batchSize', 1, true],
  ['sangam-call-log', 'batchSize', '1000', true],
  ['sangam-call-log', 'batchSize', 1001, false],
  ['sangam-call-log', 'batchSize', '2.5', false],
  ['sangam-call-log', 'batchWindow', 0, true],
  ['sangam-call-log', 'concurrency', 65, false],
  ['sangam-call-log', 'retries', 21, false],
  ['sangam-call-log', 'ivrName', 'pbx 1', false, { ivrNameType: 'str' }],
  ['sangam-call-log', 'ivrName', 'IVR_NAME', true, { ivrNameType: 'env' }],
  ['sangam-call-log', 'ivrName', '', false, { ivrNameType: 'flow' }],
  ['sangam-call-log', 'inputFormat', 'exotel', true],
  ['sangam-call-log', 'inputFormat', 'csv', false],
  ['sangam-notify', 'maxAge', 0, true],
  ['sangam-notify', 'retries', 6, false],
  ['exotel-config', 'accountSid', 'acme_1-x', true],
  ['exotel-config', 'accountSid', 'acme 1', false],
  ['exotel-config', 'subdomain', 'api.in.exotel.com', true],
  ['exotel-config', 'subdomain', 'http://api.exotel.com', false],
  ['exotel-config', 'callerId', '+918047112233', true],
  ['exotel-config', 'callerId', '080-4711-2233', true],
  ['exotel-config', 'callerId', '0804711223X', false],
  ['exotel-config', 'rateLimit', 0, false],
  ['exotel-click2call', 'callerId', '08047ABC', false],
  ['exotel-click2call', 'timeLimit', '', true],
  ['exotel-click2call', 'timeLimit', 14400, true],
  ['exotel-click2call', 'timeLimit', 14401, false],
  ['exotel-click2call', 'timeOut', '1.5', false],
  ['exotel-click2call', 'customField', 'x'.repeat(128), true],
  ['exotel-click2call', 'customField', 'x'.repeat(129), false],
  ['exotel-click2call', 'statusCallback', 'https://hooks.example.com/exotel', true],
  ['exotel-click2call', 'statusCallback', 'hooks.example.com', false],
  ['exotel-click2call', 'statusCallbackEvents', 'terminal,answered', true],
  ['exotel-click2call', 'statusCallbackContentType', 'text/plain', false],
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
let failed = 0;
for (const [type, prop, value, valid, extra] of cases) {
  const node = Object.assign({ type }, extra);
  const got = defs[type].defaults[prop].validate.call(node, value);
  const withOpt = defs[type].defaults[prop].validate.call(node, value, {});
  const ok = (got === true) === valid && (withOpt === true) === valid && (valid || typeof withOpt === 'string');
  if (!ok) { failed++; console.log('FAIL', type, prop, JSON.stringify(value), '->', got, withOpt); }
}
// Defaults must be valid as they are.
for (const [type, def] of Object.entries(defs)) {
  for (const [prop, d] of Object.entries(def.defaults)) {
    if (d.validate && !(d.required && d.value === '') && d.validate.call({ type, ivrNameType: 'str' }, d.value) !== true) { failed++; console.log('FAIL default', type, prop); }
  }
}
console.log(failed ? `${failed} failed` : `all ${cases.length} cases and defaults pass`);
process.exit(failed ? 1 : 0);

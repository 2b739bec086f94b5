import assert from 'node:assert/strict';
import { SECRET_TOKEN, collect, helper, loggedText, pause } from './support/node-red';
import { loadSangamFlow, useSangamCrm } from './support/sangam-crm';

interface Msg {
  payload: unknown;
  error?: { message: string };
  [key: string]: unknown;
}

const EVENT = {
  cli: '9876509876',
  event: 'TC',
  uniqueid: '12398778.1234',
  time: '2020-11-10 10:55:47',
  nm: 'agent@example.com',
  to: '7890178901',
};

describe('sangam-notify in a Node-RED runtime', function () {
  const crm = useSangamCrm();

  async function load(node: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<void> {
    await loadSangamFlow({
      domain: crm().url,
      config: { ivrName: 'pbx-1', timezone: 'Asia/Kolkata', ...config },
      type: 'sangam-notify',
      node: { maxAge: 0, ...node },
    });
  }

  it('posts the event as the guide shows and answers with the CRM answer', async () => {
    await load();
    const out = collect<Msg>('out', 1);
    helper.getNode('notify').receive({ payload: EVENT });
    const [msg] = await out;
    assert.deepEqual(msg.payload, { message: 'success' });
    assert.equal(crm().notifies.length, 1);
    assert.deepEqual(crm().notifies[0].event, EVENT);
    assert.equal(crm().notifies[0].ivrName, 'pbx-1');
    const request = crm().requests[0];
    assert.equal(request.path, '/api/v1/ivr-call-notify');
    assert.equal(request.headers.authorization, SECRET_TOKEN);
    assert.match(String(request.headers['content-type']), /application\/json/);
  });

  it('sends each event at once, never batched', async () => {
    await load();
    const out = collect<Msg>('out', 3);
    for (let i = 0; i < 3; i++) helper.getNode('notify').receive({ payload: { ...EVENT, uniqueid: `u${i}` } });
    await out;
    assert.equal(crm().stats.notifyRequests, 3);
  });

  it('defaults time to now, written in the config zone', async () => {
    await load({ maxAge: 30 });
    const out = collect<Msg>('out', 1);
    const { time: _omitted, ...withoutTime } = EVENT;
    const before = Date.now();
    helper.getNode('notify').receive({ payload: withoutTime });
    await out;
    const written = String(crm().notifies[0].event.time);
    assert.match(written, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    // Asia/Kolkata is UTC+05:30 all year.
    const asUtc = Date.parse(`${written.replace(' ', 'T')}+05:30`);
    assert.ok(Math.abs(asUtc - before) < 5_000, `${written} is now in Asia/Kolkata`);
  });

  it('drops an event older than the maximum age with a warning instead of sending it late', async () => {
    await load({ maxAge: 30 });
    const out = collect<Msg>('out', 1, 1000).catch(() => []);
    helper.getNode('notify').receive({ payload: { ...EVENT, time: new Date(Date.now() - 60_000).toISOString() } });
    assert.deepEqual(await out, []);
    assert.equal(crm().stats.requests, 0);
    assert.match(loggedText(), /older than|maximum age|tooOld/i);
  });

  it('sends an event younger than the maximum age', async () => {
    await load({ maxAge: 30 });
    const out = collect<Msg>('out', 1);
    helper.getNode('notify').receive({ payload: { ...EVENT, time: Date.now() - 5_000 } });
    await out;
    assert.equal(crm().notifies.length, 1);
  });

  it('rejects a bad event naming the field, and sends nothing', async () => {
    await load();
    const caught = collect<Msg>('caught', 2);
    helper.getNode('notify').receive({ payload: { ...EVENT, cli: 98765 } });
    helper.getNode('notify').receive({ payload: 'ringing' });
    const [first, second] = await caught;
    assert.match(first.error!.message, /payload\.cli/);
    assert.match(second.error!.message, /payload/);
    assert.equal(crm().stats.requests, 0);
  });

  it('retries a 503 and reports a 401 at once, without the token', async () => {
    await load();
    crm().failNext(1, { kind: 'status', status: 503 }, 'notify');
    const out = collect<Msg>('out', 1);
    helper.getNode('notify').receive({ payload: EVENT });
    await out;
    assert.equal(crm().stats.notifyRequests, 2);

    crm().failNext(1, { kind: 'status', status: 401, body: `{"message":"token ${SECRET_TOKEN} refused"}` }, 'notify');
    const caught = collect<Msg>('caught', 1);
    helper.getNode('notify').receive({ payload: EVENT });
    const [msg] = await caught;
    await pause(200);
    assert.equal(crm().stats.notifyRequests, 3);
    assert.match(msg.error!.message, /HTTP 401/);
    assert.ok(!msg.error!.message.includes(SECRET_TOKEN));
    assert.ok(!loggedText().includes(SECRET_TOKEN));
  });

  it('lets msg.ivrName override the node and the config', async () => {
    await load({ ivrName: 'node-ivr' });
    const out = collect<Msg>('out', 2);
    helper.getNode('notify').receive({ payload: EVENT });
    helper.getNode('notify').receive({ payload: EVENT, ivrName: 'msg-ivr' });
    await out;
    assert.deepEqual(crm().notifies.map((n) => n.ivrName).sort(), ['msg-ivr', 'node-ivr']);
  });

  it('reaches Catch with the CRM message when the answer is not 200', async () => {
    await load({ retries: 0 });
    crm().failNext(1, { kind: 'status', status: 500, body: '{"message":"database is down"}' }, 'notify');
    const caught = collect<Msg>('caught', 1);
    helper.getNode('notify').receive({ payload: EVENT });
    const [msg] = await caught;
    assert.match(msg.error!.message, /HTTP 500.*database is down/);
  });
});

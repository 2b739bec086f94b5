import assert from 'node:assert/strict';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { AbortedError, RemoteError } from '../../src/lib/errors';
import { KeepAliveAgents, createKeepAliveAgents } from '../../src/lib/http';
import { RetryPolicy } from '../../src/lib/retry';
import { NotifySender, NotifySenderOptions } from '../../src/sangam/notify-sender';
import { normaliseCallLogPayload } from '../../src/sangam/call-record';
import { SangamClient } from '../../src/sangam/sangam-client';
import { RECORD } from '../support/call-record';

const TOKEN = 'notify-token-8e3f0a6d21';
const FAST_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 1_000 };
const EVENT_TIME = Date.parse('2024-05-01T10:00:00Z');
const BODY = JSON.stringify({ cli: '9876543210', event: 'TC', uniqueid: '1.1', time: '2024-05-01 15:30:00', nm: '', to: '7890123456' });

describe('sangam/notify-sender', () => {
  let crm: SangamCrmStandIn;
  let agents: KeepAliveAgents;
  let client: SangamClient;
  const senders: NotifySender[] = [];

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: TOKEN });
  });
  after(async () => {
    await crm.close();
  });
  beforeEach(() => {
    crm.reset();
    agents = createKeepAliveAgents(4);
    client = new SangamClient({ baseUrl: crm.url, token: TOKEN, timeoutMs: 5_000, agents, maxInFlight: 4 });
  });
  afterEach(() => {
    for (const sender of senders.splice(0)) sender.close();
    agents.destroy();
  });

  /** `ages` are the event's age in seconds that successive clock reads return (the last one repeats). */
  function sender(ages: number[], options: Partial<NotifySenderOptions> = {}): { sender: NotifySender; retries: RemoteError[] } {
    const retries: RemoteError[] = [];
    let reads = 0;
    const made = new NotifySender({
      client,
      retry: FAST_RETRY,
      maxAgeSeconds: 60,
      now: () => EVENT_TIME + ages[Math.min(reads++, ages.length - 1)] * 1000,
      onRetry: ({ error }) => retries.push(error),
      ...options,
    });
    senders.push(made);
    return { sender: made, retries };
  }

  it('sends many events at once without a listener-leak warning (each request listens for close)', async () => {
    const wide = createKeepAliveAgents(16);
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const wideClient = new SangamClient({ baseUrl: crm.url, token: TOKEN, timeoutMs: 5_000, agents: wide, maxInFlight: 16 });
      const { sender: subject } = sender([1], { client: wideClient });
      crm.setLatency(30);
      const answers = await Promise.all(Array.from({ length: 40 }, () => subject.send(BODY, 'main-ivr', EVENT_TIME)));
      assert.equal(answers.length, 40);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((text) => text.includes('MaxListeners')), []);
    } finally {
      process.removeListener('warning', onWarning);
      crm.setLatency(0);
      wide.destroy();
    }
  });

  it('sends the event at once and returns the answer', async () => {
    const { sender: subject } = sender([1]);
    assert.deepEqual(await subject.send(BODY, 'main-ivr', EVENT_TIME), { message: 'success' });
    assert.equal(crm.notifies.length, 1);
    assert.equal(crm.notifies[0].ivrName, 'main-ivr');
  });

  it('retries retryable failures while the event is young', async () => {
    crm.failNext(2, { kind: 'status', status: 503 }, 'notify');
    const { sender: subject, retries } = sender([5, 6]);
    assert.deepEqual(await subject.send(BODY, 'main-ivr', EVENT_TIME), { message: 'success' });
    assert.equal(crm.stats.notifyRequests, 3);
    assert.deepEqual(retries.map((error) => error.statusCode), [503, 503]);
  });

  it('stops retrying once the event is older than the maximum age (with a second of margin)', async () => {
    crm.failNext(5, { kind: 'status', status: 503 }, 'notify');
    // Young at the first failure, too old (59.5 s of 60 s, within the margin) at the second.
    const { sender: subject, retries } = sender([10, 59.5]);
    await assert.rejects(subject.send(BODY, 'main-ivr', EVENT_TIME), (error: unknown) => error instanceof RemoteError && error.statusCode === 503);
    assert.equal(crm.stats.notifyRequests, 2);
    assert.equal(retries.length, 1);
  });

  it('sends a pop-up that found the CRM unreachable again as soon as a call log of the same CRM gets through', async () => {
    // Backoffs of 150-300, 300-600, then 600-1,200 ms; woken by the call log, a retry waits 300 ms at least.
    let failedAt = 0;
    let logged: Promise<unknown> = Promise.resolve();
    const subject = new NotifySender({
      client,
      retry: { retries: 3, baseDelayMs: 300, maxDelayMs: 60_000, maxRetryAfterMs: 1_000 },
      maxAgeSeconds: 0,
      onRetry: ({ attempt }) => {
        if (attempt !== 3) return;
        failedAt = Date.now();
        // A call log through the same client (the config's), 20 ms later.
        const body = JSON.stringify(normaliseCallLogPayload(RECORD, { timeZone: 'Asia/Kolkata' }).records);
        logged = new Promise((resolve) => setTimeout(resolve, 20)).then(() => client.postCallLogs(body, 1, 'main-ivr'));
      },
    });
    senders.push(subject);
    crm.failNext(3, { kind: 'drop' });
    await subject.send(BODY, 'main-ivr', Date.now());
    const took = Date.now() - failedAt;
    await logged;
    assert.ok(took >= 295 && took < 550, `the fourth attempt came ${took} ms after the third failed (its backoff: 600-1,200 ms)`);
  });

  it('does not retry an event that is already too old', async () => {
    crm.failNext(1, { kind: 'drop' }, 'notify');
    const { sender: subject, retries } = sender([61]);
    await assert.rejects(subject.send(BODY, 'main-ivr', EVENT_TIME), RemoteError);
    assert.equal(crm.stats.notifyRequests, 1);
    assert.equal(retries.length, 0);
  });

  // isRetryable compares the age at the failure with maxAge, but the retry goes out only after the
  // backoff or the server's Retry-After (up to maxRetryAfterMs, 60 s by default): the pop-up then
  // reaches the CRM older than the maximum age, which the contract says must be dropped instead.
  it('never sends a retry that would reach the CRM older than the maximum age', async () => {
    crm.failNext(1, { kind: 'status', status: 429, retryAfter: '2' }, 'notify');
    const eventTime = Date.now() - 200;
    const made = new NotifySender({ client, retry: { ...FAST_RETRY, maxRetryAfterMs: 10_000 }, maxAgeSeconds: 2 });
    senders.push(made);
    await made.send(BODY, 'main-ivr', eventTime).catch(() => undefined);
    for (const notify of crm.notifies) {
      assert.ok(notify.receivedAt - eventTime <= 2_000, `sent ${notify.receivedAt - eventTime} ms after the event, maximum age 2000 ms`);
    }
  });

  it('with a maximum age of 0 retries whatever the age', async () => {
    crm.failNext(2, { kind: 'status', status: 502 }, 'notify');
    const { sender: subject } = sender([86_400], { maxAgeSeconds: 0 });
    assert.deepEqual(await subject.send(BODY, 'main-ivr', EVENT_TIME), { message: 'success' });
    assert.equal(crm.stats.notifyRequests, 3);
  });

  it('does not retry a refusal however young the event', async () => {
    crm.failNext(1, { kind: 'status', status: 400 }, 'notify');
    const { sender: subject } = sender([0]);
    await assert.rejects(subject.send(BODY, 'main-ivr', EVENT_TIME), (error: unknown) => error instanceof RemoteError && error.statusCode === 400);
    assert.equal(crm.stats.notifyRequests, 1);
  });

  it('close abandons a request in flight with AbortedError', async () => {
    crm.failNext(1, { kind: 'delay', ms: 30_000 }, 'notify');
    const { sender: subject } = sender([1]);
    const sending = subject.send(BODY, 'main-ivr', EVENT_TIME);
    const outcome = sending.then(
      () => assert.fail('should not succeed'),
      (error: unknown) => error,
    );
    await crm.waitForRequests(1);
    const started = Date.now();
    subject.close();
    assert.ok((await outcome) instanceof AbortedError);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(crm.notifies.length, 0);
  });

  it('close stops the wait before a retry, and later sends fail at once', async () => {
    crm.failNext(1, { kind: 'status', status: 503 }, 'notify');
    const slow: RetryPolicy = { ...FAST_RETRY, baseDelayMs: 60_000, maxDelayMs: 60_000 };
    let subject: NotifySender | undefined;
    // No maximum age: the long wait must be a retry that close() cuts short, not an event too old to retry.
    const made = sender([1], { retry: slow, maxAgeSeconds: 0, onRetry: () => subject?.close() });
    subject = made.sender;
    await assert.rejects(subject.send(BODY, 'main-ivr', EVENT_TIME), AbortedError);
    assert.equal(crm.stats.notifyRequests, 1);
    await assert.rejects(subject.send(BODY, 'main-ivr', EVENT_TIME), AbortedError);
    assert.equal(crm.stats.notifyRequests, 1);
  });
});

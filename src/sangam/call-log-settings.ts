import { DEFAULT_RETRY_POLICY, RetryPolicy } from '../lib/retry';
import { readInteger } from '../lib/settings';

/** sangam-call-log's own properties as stored in flows.json. */
export interface CallLogProperties {
  batchSize?: unknown;
  batchWindow?: unknown;
  concurrency?: unknown;
  retries?: unknown;
  maxRecords?: unknown;
}

export interface CallLogSettings {
  maxBatchSize: number;
  windowMs: number;
  concurrency: number;
  maxRecordsPerMsg: number;
  /** Bound on one request body: large enough for 1000 ordinary records. */
  maxBatchBytes: number;
  retry: RetryPolicy;
}

/**
 * Defaults that suit a busy call centre: a record waits at most 10 ms for others to join it (at
 * ordinary rates batches stay small and latency low); under a backlog (a burst, a replay after an
 * outage) batches grow to 250 records with 12 in flight: 3,000 records on the wire, so a CRM 50 ms
 * away takes about as many records a second as one next door (8 in flight reached only 51-77% of it).
 */
export function readCallLogSettings(properties: CallLogProperties): CallLogSettings {
  return {
    maxBatchSize: readInteger(properties.batchSize, { name: 'batch size', min: 1, max: 1000, fallback: 250 }),
    windowMs: readInteger(properties.batchWindow, { name: 'batch window', min: 0, max: 10_000, fallback: 10 }),
    concurrency: readInteger(properties.concurrency, { name: 'concurrency', min: 1, max: 64, fallback: 12 }),
    maxRecordsPerMsg: readInteger(properties.maxRecords, { name: 'records per msg', min: 1, max: 10_000, fallback: 1000 }),
    maxBatchBytes: 1024 * 1024,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      retries: readInteger(properties.retries, { name: 'retries', min: 0, max: 20, fallback: DEFAULT_RETRY_POLICY.retries }),
    },
  };
}

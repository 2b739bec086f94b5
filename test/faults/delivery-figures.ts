/**
 * Counting for the fault suite: what went into a flow against what the CRM stand-in stored,
 * matched by a unique `call_ref` custom field. Every scenario prints one line of these figures.
 */

/** The call record every fault scenario sends, made unique by `call_ref`. */
export function faultRecord(callRef: string): Record<string, string | number> {
  return {
    direction: 'Inbound',
    enjay_lat_source_number: '9876509876',
    enjay_lat_destination_number: '2001',
    date_start: '2024-05-01 10:00:00',
    duration: 42,
    call_ref: callRef,
  };
}

export interface DeliveryFigures {
  scenario: string;
  /** Records sent into the flow. */
  sent: number;
  /** Distinct records the stand-in stored. */
  stored: number;
  /** Stored copies beyond the first of a record. */
  duplicates: number;
  /** Records that had to be stored (all sent, or all acknowledged to the producer) and were not. */
  lost: number;
  /** Stored records nobody sent (would mean corruption or a mix-up of records). */
  unknown: number;
  /** Free text for the printed line (acknowledged, unanswered, ...). */
  note?: string;
}

/**
 * Compares the refs that must arrive, and all refs sent, with the refs the stand-in stored
 * (one entry per stored copy).
 */
export function countDelivery(
  scenario: string,
  sentRefs: ReadonlySet<string>,
  mustArrive: ReadonlySet<string>,
  storedRefs: ReadonlyArray<unknown>,
  note?: string,
): DeliveryFigures {
  const copies = new Map<string, number>();
  let unknown = 0;
  for (const ref of storedRefs) {
    if (typeof ref !== 'string' || !sentRefs.has(ref)) {
      unknown++;
      continue;
    }
    copies.set(ref, (copies.get(ref) ?? 0) + 1);
  }
  let duplicates = 0;
  for (const count of copies.values()) duplicates += count - 1;
  let lost = 0;
  for (const ref of mustArrive) if (!copies.has(ref)) lost++;
  return { scenario, sent: sentRefs.size, stored: copies.size, duplicates, lost, unknown, ...(note === undefined ? {} : { note }) };
}

/** One line per scenario, the same shape in every file, so the run's log reads as a table. */
export function printFigures(figures: DeliveryFigures): void {
  const cells = [
    figures.scenario.padEnd(44),
    `sent ${String(figures.sent).padStart(5)}`,
    `stored ${String(figures.stored).padStart(5)}`,
    `duplicates ${String(figures.duplicates).padStart(4)}`,
    `lost ${String(figures.lost).padStart(3)}`,
  ];
  if (figures.unknown > 0) cells.push(`UNKNOWN ${figures.unknown}`);
  if (figures.note) cells.push(figures.note);
  console.log(`      [faults] ${cells.join(' | ')}`);
}

/** Waits for a condition by polling; fails with `what` and the last state after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
  pollMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what()}`);
    await sleep(pollMs);
  }
}

/** Pacing of producers (never an assertion). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** mulberry32: a small seeded PRNG, so a failing fault pattern can be replayed from its printed seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** FAULT_SEED from the environment replays a run; otherwise a fresh seed, printed. */
export function pickSeed(): number {
  const fromEnv = Number(process.env.FAULT_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
}

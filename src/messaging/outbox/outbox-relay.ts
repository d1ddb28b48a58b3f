import { ensureError } from '../../kernel/errors.ts';
import { checkInteger, checkNumber, throwIfInvalid } from '../../kernel/options.ts';
import type { Transport } from '../transport.ts';
import type { OutboxRecord, OutboxStore } from './outbox-store.ts';

/**
 * The outbox relay: hands committed outbox rows to the broker, in seq order, at least once.
 *
 * Loop: (lead) → fetch a batch of unpublished rows → `transport.publish` (redrives: `redeliver` to
 * their one group) → mark them published → again until the outbox is empty → wait for `onAvailable`
 * or the safety poll. A crash between publish and mark publishes the batch again on the next start:
 * the broker drops ids it saw within its dedupe window and consumers dedupe by their inbox anyway.
 *
 * Only one relay publishes at a time (per-key order across processes): when the store offers
 * `tryLead`, a relay that does not hold the lead stays on standby and asks again every
 * `standbyRetryMs`.
 */
export interface OutboxRelay {
  start(): Promise<void>;
  /** Stops after the batch in hand (published and marked, or left for the next leader). */
  stop(): Promise<void>;
  /** Whether this relay currently holds the lead (always true for stores without leadership). */
  readonly leading: boolean;
}

export interface OutboxRelayOptions {
  outbox: OutboxStore;
  transport: Transport;
  /** Rows per fetch / publish / mark round. @default 500 */
  batchSize?: number;
  /** Safety poll when no notification arrives. @default 1000 */
  pollIntervalMs?: number;
  /** How often a standby relay asks for the lead. @default 3000 */
  standbyRetryMs?: number;
  /** Pause after a failed round (broker or database down) before trying again. @default 1000 */
  retryDelayMs?: number;
  /**
   * How long published rows stay in the outbox (for operators and investigations) before the
   * leading relay deletes them. @default 3600000 (1 h)
   */
  retentionMs?: number;
  /** How often the leading relay prunes published rows. @default 60000 */
  pruneEveryMs?: number;
  /** Clock for pruning. @default () => new Date() */
  now?: () => Date;
  onError?: (error: Error) => void;
  /** Hears every published batch (tests, metrics). */
  onPublished?: (records: readonly OutboxRecord[]) => void;
}

const PRUNE_BATCH = 5_000;

/** The relay's timings and batch size, defaulted and checked. */
export interface ResolvedOutboxRelayOptions {
  readonly batchSize: number;
  readonly pollIntervalMs: number;
  readonly standbyRetryMs: number;
  readonly retryDelayMs: number;
  readonly retentionMs: number;
  readonly pruneEveryMs: number;
}

/** Applies the documented defaults and checks every field; throws one InvalidOptionsError listing every problem. */
export function resolveOutboxRelayOptions(
  options: Omit<OutboxRelayOptions, 'outbox' | 'transport'>,
): ResolvedOutboxRelayOptions {
  const resolved: ResolvedOutboxRelayOptions = {
    batchSize: options.batchSize ?? 500,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    standbyRetryMs: options.standbyRetryMs ?? 3_000,
    retryDelayMs: options.retryDelayMs ?? 1_000,
    retentionMs: options.retentionMs ?? 3_600_000,
    pruneEveryMs: options.pruneEveryMs ?? 60_000,
  };
  throwIfInvalid(
    [
      checkInteger('batchSize', resolved.batchSize, { min: 1 }),
      checkNumber('pollIntervalMs', resolved.pollIntervalMs, { min: 0 }),
      checkNumber('standbyRetryMs', resolved.standbyRetryMs, { min: 0 }),
      checkNumber('retryDelayMs', resolved.retryDelayMs, { min: 0 }),
      checkNumber('retentionMs', resolved.retentionMs, { min: 0 }),
      checkNumber('pruneEveryMs', resolved.pruneEveryMs, { min: 0 }),
    ],
    'outbox relay options',
  );
  return Object.freeze(resolved);
}

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { outbox, transport } = options;
  const { batchSize, pollIntervalMs, retentionMs, pruneEveryMs, standbyRetryMs, retryDelayMs } =
    resolveOutboxRelayOptions(options);
  const now = options.now ?? (() => new Date());
  let prunedAt = 0;
  let running = false;
  let leading = false;
  let loop: Promise<void> | undefined;
  let unsubscribe: (() => void) | undefined;
  // A wake-up that arrived while the loop was busy is kept, so the loop reads again at once.
  let pendingWake = false;
  let wake: (() => void) | undefined;
  // Ends a standby wait (stop only).
  let interrupt: (() => void) | undefined;

  function signal(): void {
    pendingWake = true;
    wake?.();
  }

  function pause(ms: number): Promise<void> {
    if (pendingWake || !running) {
      pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wake = undefined;
        pendingWake = false;
        resolve();
      }
      wake = done;
    });
  }

  async function publish(records: readonly OutboxRecord[]): Promise<void> {
    // Consecutive broadcast rows go in one publish; a redrive row goes to its group alone, in place.
    let run: OutboxRecord[] = [];
    const flush = async (): Promise<void> => {
      if (run.length === 0) return;
      await transport.publish(run.map((r) => r.message));
      run = [];
    };
    for (const record of records) {
      if (record.targetGroup === null) {
        run.push(record);
      } else {
        await flush();
        await transport.redeliver(record.targetGroup, record.message);
      }
    }
    await flush();
  }

  /**
   * Published rows would otherwise pile up for ever (every message of every order). Bounded per
   * round (20 batches) so publishing never waits long; a failure is reported and tried next time.
   */
  async function pruneIfDue(): Promise<void> {
    if (outbox.prunePublished === undefined || Date.now() - prunedAt < pruneEveryMs) return;
    prunedAt = Date.now();
    const before = new Date(now().getTime() - retentionMs);
    try {
      for (let round = 0; round < 20; round++) {
        if ((await outbox.prunePublished(before, PRUNE_BATCH)) < PRUNE_BATCH) return;
      }
    } catch (error) {
      options.onError?.(ensureError(error));
    }
  }

  async function runLoop(): Promise<void> {
    while (running) {
      try {
        if (outbox.tryLead !== undefined) {
          leading = await outbox.tryLead();
          if (!leading) {
            // Standby: another process publishes. Notifications are not a reason to ask again.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(done, standbyRetryMs);
              function done(): void {
                clearTimeout(timer);
                interrupt = undefined;
                resolve();
              }
              interrupt = done;
            });
            continue;
          }
        } else {
          leading = true;
        }
        pendingWake = false;
        await pruneIfDue();
        const records = await outbox.fetchUnpublished(batchSize);
        if (records.length === 0) {
          await pause(pollIntervalMs);
          continue;
        }
        await publish(records);
        await outbox.markPublished(records.map((r) => r.seq));
        options.onPublished?.(records);
        // A full batch: there is probably more; a partial one: read again only when woken.
        if (records.length < batchSize) await pause(pollIntervalMs);
      } catch (error) {
        if (!running) return;
        leading = false;
        options.onError?.(ensureError(error));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, retryDelayMs);
          function done(): void {
            clearTimeout(timer);
            interrupt = undefined;
            resolve();
          }
          interrupt = done;
        });
      }
    }
  }

  return {
    get leading() {
      return leading;
    },
    async start() {
      if (running) return;
      running = true;
      pendingWake = true;
      unsubscribe = outbox.onAvailable(signal);
      loop = runLoop();
    },
    async stop() {
      if (!running) return;
      running = false;
      unsubscribe?.();
      wake?.();
      interrupt?.();
      await loop;
      loop = undefined;
      leading = false;
      await outbox.resign?.().catch((error: unknown) => options.onError?.(ensureError(error)));
    },
  };
}

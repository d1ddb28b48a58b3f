import type { Envelope } from '../kernel/envelope.ts';
import { AppError, ERROR_CODES, InvalidOptionsError, ensureError } from '../kernel/errors.ts';
import type {
  EventSubscription,
  StoredEvent,
  StreamAppend,
  SubscriptionOptions,
  UnitOfWork,
} from './event-store.ts';

/** A value, or a promise of it: sources backed by a synchronous driver answer at once. */
export type MaybePromise<T> = T | Promise<T>;

/** Where a catch-up subscription may read up to, now. */
export interface CatchUpHead {
  /**
   * Every event at or below this position is final: none can appear there any more. The loop reads
   * up to it and may move its checkpoint there even when the type filter left nothing to handle.
   */
  readable: number;
  /**
   * The highest position written (what `caughtUp()` waits for). Above `readable` while committed
   * events are held back (by an older transaction still in flight); the loop then looks again soon.
   */
  visible: number;
}

/**
 * What an adapter gives the catch-up loop: only what differs between stores (emmett
 * `pollingMessageSource`'s `readBatch` / `readLastMessageCheckpoint`). The loop itself, its
 * checkpointing, waiting, stopping and retries are `startCatchUpSubscription`'s.
 */
export interface CatchUpSource {
  /** The subscription's durable checkpoint, -1 when none. Read once, before the first batch. */
  readCheckpoint(): MaybePromise<number>;
  /** The head the loop may read up to. */
  head(): MaybePromise<CatchUpHead>;
  /**
   * Events with `after < position <= upTo`, in position order, at most `limit`, of the
   * subscription's types only.
   */
  readBatch(after: number, upTo: number, limit: number): MaybePromise<readonly StoredEvent[]>;
  /** Commits a unit of work (the handler's effects with the new checkpoint) in one transaction. */
  commit(unit: UnitOfWork): Promise<unknown>;
  /**
   * Waiting for change. The adapter calls `wake()` (of `CatchUpSubscriptions`) when something may have
   * committed; besides, while idle, the loop looks again every `pollIntervalMs` (a safety net for a
   * lost notification), or only when woken if it is left out.
   */
  pollIntervalMs?: number;
  /** True once the store's connection was closed under the subscription: the loop ends. */
  closed?(): boolean;
}

/** The running subscriptions of one store. */
export interface CatchUpSubscriptions {
  /**
   * Starts a subscription on `source`. Throws when one with the same id already runs in this
   * process (two runners of one checkpoint would handle the same events twice).
   */
  start(options: SubscriptionOptions, source: CatchUpSource): EventSubscription;
  /** Something may have committed: every running subscription looks for new events. */
  wake(): void;
  /** Stops every running subscription; each commits the batch in hand. */
  stopAll(): Promise<void>;
}

const DEFAULT_BATCH_SIZE = 500;
const FIRST_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 10_000;
// While committed events are held back by an in-flight transaction (which may roll back, and then
// nothing wakes the loop), it looks again after 2 ms, doubling up to 100 ms.
const FIRST_HELD_BACK_DELAY_MS = 2;
const MAX_HELD_BACK_DELAY_MS = 100;

export function createCatchUpSubscriptions(): CatchUpSubscriptions {
  const running = new Map<string, RunningSubscription>();
  return {
    start(options, source) {
      const { subscriptionId } = options;
      if (running.has(subscriptionId)) {
        throw new AppError(ERROR_CODES.INTERNAL, `subscription ${subscriptionId} is already running`);
      }
      const subscription = startCatchUpSubscription(options, source, () => running.delete(subscriptionId));
      running.set(subscriptionId, subscription);
      return subscription.handle;
    },
    wake() {
      for (const subscription of running.values()) subscription.wake();
    },
    async stopAll() {
      await Promise.all([...running.values()].map((subscription) => subscription.handle.stop()));
    },
  };
}

interface RunningSubscription {
  readonly handle: EventSubscription;
  wake(): void;
}

interface CaughtUpWaiter {
  target: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The catch-up loop: from the stored checkpoint, read a batch up to the readable head, hand it to
 * the handler, commit the handler's unit with the new checkpoint (at least once: a batch whose
 * commit fails is handled again), and when nothing is left wait for a wake-up or the poll. A failing
 * batch is reported to `onError` and retried after a pause (200 ms doubling to 10 s) that wake-ups do
 * not cut short. `stop()` lets the batch in hand finish and commit, then ends the loop.
 */
function startCatchUpSubscription(
  options: SubscriptionOptions,
  source: CatchUpSource,
  onStopped: () => void,
): RunningSubscription {
  const { subscriptionId, handler, onError } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw InvalidOptionsError.format(
      'batchSize',
      `must be a positive integer (got ${String(batchSize)}, subscription ${subscriptionId})`,
    );
  }
  const { pollIntervalMs } = source;
  /** The last position handled and checkpointed; undefined until the checkpoint is read. */
  let position: number | undefined;
  let stopping = false;
  let stopped = false;
  /** A wake-up came while the loop was busy: its next pause returns at once. */
  let woken = false;
  let wakeUp: (() => void) | undefined;
  let waiters: CaughtUpWaiter[] = [];

  function wake(): void {
    woken = true;
    const resolve = wakeUp;
    wakeUp = undefined;
    resolve?.();
  }

  /** Resolves on a wake-up (also one that came before), on stop, or after `ms` when given. */
  function pause(ms: number | undefined): Promise<void> {
    if (woken || stopping) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(wake, ms);
      wakeUp = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    }).then(() => {
      woken = false;
    });
  }

  function settleWaiters(): void {
    if (waiters.length === 0 || position === undefined) return;
    const current = position;
    const pending: CaughtUpWaiter[] = [];
    for (const waiter of waiters) {
      if (waiter.target <= current) waiter.resolve();
      else pending.push(waiter);
    }
    waiters = pending;
  }

  function report(error: unknown): void {
    try {
      onError?.(ensureError(error));
    } catch {
      // A failing error callback must not end the subscription.
    }
  }

  function stoppedError(): AppError {
    return new AppError(ERROR_CODES.SHUTTING_DOWN, `subscription ${subscriptionId} stopped`);
  }

  async function loop(): Promise<void> {
    // Let subscribe() return before the handler first runs.
    await Promise.resolve();
    let retryDelay = FIRST_RETRY_DELAY_MS;
    let heldBackDelay = FIRST_HELD_BACK_DELAY_MS;
    while (!stopping && source.closed?.() !== true) {
      try {
        position ??= await source.readCheckpoint();
        // Whatever committed before this read is seen by it; a wake-up from now on is kept.
        woken = false;
        const head = await source.head();
        if (head.readable <= position) {
          settleWaiters();
          if (head.visible > head.readable) {
            await pause(heldBackDelay);
            heldBackDelay = Math.min(heldBackDelay * 2, MAX_HELD_BACK_DELAY_MS);
          } else {
            heldBackDelay = FIRST_HELD_BACK_DELAY_MS;
            await pause(pollIntervalMs);
          }
          continue;
        }
        heldBackDelay = FIRST_HELD_BACK_DELAY_MS;
        const events = await source.readBatch(position, head.readable, batchSize);
        // A full batch may have more behind it; a short one saw everything up to the readable head.
        const next = events.length === batchSize ? events[events.length - 1]!.position : head.readable;
        const unit = { appends: [] as StreamAppend[], messages: [] as Envelope[] };
        if (events.length > 0) await handler(events, { unit });
        await source.commit({
          appends: unit.appends,
          messages: unit.messages,
          checkpoint: { subscriptionId, position: next },
        });
        position = next;
        retryDelay = FIRST_RETRY_DELAY_MS;
        settleWaiters();
      } catch (error) {
        report(error);
        if (stopping) break;
        // Wake-ups are ignored while pausing before a retry.
        const until = Date.now() + retryDelay;
        while (!stopping && Date.now() < until) {
          woken = false;
          await pause(until - Date.now());
        }
        retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY_MS);
      }
    }
  }

  const running = loop()
    .catch(report)
    .finally(() => {
      stopped = true;
      const error = stoppedError();
      for (const waiter of waiters) waiter.reject(error);
      waiters = [];
      onStopped();
    });

  const handle: EventSubscription = {
    subscriptionId,
    async caughtUp() {
      const target = (await source.head()).visible;
      if (position !== undefined && target <= position) return;
      if (stopping || stopped) throw stoppedError();
      await new Promise<void>((resolve, reject) => {
        waiters.push({ target, resolve, reject });
        settleWaiters();
        wake();
      });
    },
    async stop() {
      stopping = true;
      wake();
      await running;
    },
  };
  return { handle, wake };
}

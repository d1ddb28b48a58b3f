import type { EventStore } from '../event-store/event-store.ts';
import { ensureError } from '../kernel/errors.ts';
import { checkInteger, checkNumber, throwIfInvalid } from '../kernel/options.ts';

/**
 * Fires durable timers: moves scheduled messages into the outbox when they fall due. One timer is
 * armed for the earliest due message; a commit that schedules an earlier one re-arms it. On start
 * it releases whatever fell due while the process was down.
 */
export interface MessageScheduler {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface MessageSchedulerOptions {
  store: EventStore;
  /** @default Date.now */
  now?: () => number;
  /**
   * Messages moved per transaction.
   * @default 1000
   */
  batchSize?: number;
  /**
   * Pause before trying again after a failed release.
   * @default 1000
   */
  retryDelayMs?: number;
  onError?: (error: Error) => void;
}

/** Applies the documented defaults and checks them; throws one InvalidOptionsError listing every problem. */
export function resolveMessageSchedulerOptions(
  options: Pick<MessageSchedulerOptions, 'batchSize' | 'retryDelayMs'>,
): {
  readonly batchSize: number;
  readonly retryDelayMs: number;
} {
  const resolved = { batchSize: options.batchSize ?? 1_000, retryDelayMs: options.retryDelayMs ?? 1_000 };
  throwIfInvalid(
    [
      checkInteger('batchSize', resolved.batchSize, { min: 1 }),
      checkNumber('retryDelayMs', resolved.retryDelayMs, { min: 0 }),
    ],
    'message scheduler options',
  );
  return Object.freeze(resolved);
}

export function createMessageScheduler(options: MessageSchedulerOptions): MessageScheduler {
  const { store } = options;
  const now = options.now ?? Date.now;
  const { batchSize, retryDelayMs } = resolveMessageSchedulerOptions(options);
  let timer: NodeJS.Timeout | undefined;
  let armedFor = Infinity;
  let running = false;
  let releasing: Promise<void> | undefined;
  let again = false;
  let unsubscribe: (() => void) | undefined;

  function arm(dueAt: number): void {
    if (!running || dueAt >= armedFor) return;
    if (timer !== undefined) clearTimeout(timer);
    armedFor = dueAt;
    // setTimeout's limit is ~24.8 days; a longer wait simply re-arms when it fires.
    const delay = Math.min(Math.max(0, dueAt - now()), 2 ** 31 - 1);
    timer = setTimeout(fire, delay);
  }

  function fire(): void {
    timer = undefined;
    armedFor = Infinity;
    if (releasing !== undefined) {
      // A release is under way and may have read the schedule before this timer's message committed.
      again = true;
      return;
    }
    releasing = release().finally(() => {
      releasing = undefined;
      if (again && running) {
        again = false;
        fire();
      }
    });
  }

  async function release(): Promise<void> {
    try {
      for (;;) {
        const { released, nextDueAt } = await store.releaseDueMessages(now(), batchSize);
        if (released < batchSize) {
          if (nextDueAt !== null) arm(nextDueAt);
          return;
        }
      }
    } catch (error) {
      options.onError?.(ensureError(error));
      arm(now() + retryDelayMs);
    }
  }

  return {
    async start() {
      if (running) return;
      running = true;
      unsubscribe = store.onScheduled((dueAt) => arm(dueAt));
      fire();
      await releasing;
    },
    async stop() {
      running = false;
      unsubscribe?.();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      armedFor = Infinity;
      await releasing;
    },
  };
}

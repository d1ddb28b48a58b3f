import { isFinalHead, type EventStore } from '../../event-store/index.ts';
import { ensureError } from '../../kernel/errors.ts';
import type { DeadLetterStore } from '../../messaging/index.ts';
import { KPI_EVENT_TYPES } from './kpi-events.ts';
import {
  ordersAtRiskOf,
  revenueAtRiskOf,
  snapshotOf,
  type AtRiskOrder,
  type KpiSnapshot,
  type StageObjectives,
} from './kpi-snapshot.ts';
import { createKpiState, evolveKpi, type KpiState, type StageEnd } from './kpi-state.ts';

export interface KpiProjectionOptions {
  store: EventStore;
  deadLetters: DeadLetterStore;
  objectives: StageObjectives;
  /** @default () => new Date() */
  now?: () => Date;
  /** The safety poll while following the store (a lost commit notification). @default 250 */
  pollIntervalMs?: number;
  /** Events per `readAll` page. @default 1000 */
  pageSize?: number;
  /** A page that failed to read; the next wake-up or poll reads it again. */
  onError?: (error: Error) => void;
}

export interface KpiProjection {
  /** Folds the store from its start; resolves when caught up with the head at the time of the call. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when every event up to the head at the time of the call is folded. */
  caughtUp(): Promise<void>;
  snapshot(): KpiSnapshot;
  /** Orders not ended that are late, parked or dead-lettered, now. */
  ordersAtRisk(): Promise<AtRiskOrder[]>;
  /** Their totals per region and currency (major units), with a 0 for every market seen. */
  revenueAtRisk(): Promise<{ region: string; currency: string; amount: number }[]>;
  /**
   * Hears each stage end (for the stage histogram): first every one already folded, then each as
   * the fold meets it. Returns the function that stops listening.
   */
  onStageEnd(listener: (end: StageEnd) => void): () => void;
}

const DEFAULT_POLL_INTERVAL_MS = 250;
const DEFAULT_PAGE_SIZE = 1000;
const SAFE_HEAD_RETRY_MS = 5;

/**
 * The KPI projection (DESIGN.md §9): folds the store's order, fulfillment, payment and saga events
 * into the business figures. Not durable: the state lives in memory and is rebuilt from the store at
 * each start (no checkpoint), so every process that runs it agrees with the store and with the others.
 *
 * It reads `readAll` pages of its types only and follows the store by `onEventsCommitted`, with a
 * poll as safety net. `readAll` never skips an event that commits late (PostgreSQL reads up to its
 * safe head), but with a type filter a short page does not tell how far the log was scanned; so
 * `caughtUp()` first waits until the head it targets is readable (`readAll` after `head - 1`, any
 * type, returns the head's event only once nothing can appear below it), then reads, and only then
 * counts the projection as caught up to that head.
 */
export function createKpiProjection(options: KpiProjectionOptions): KpiProjection {
  const { store, deadLetters, objectives } = options;
  const now = options.now ?? (() => new Date());
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const state: KpiState = createKpiState(now().getTime());
  const listeners = new Set<(end: StageEnd) => void>();
  let reading: Promise<void> = Promise.resolve();
  let queued = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => void) | undefined;

  const emit = (end: StageEnd): void => {
    for (const listener of listeners) listener(end);
  };

  async function readPages(): Promise<void> {
    for (;;) {
      const page = await store.readAll({ after: state.position, maxCount: pageSize, types: KPI_EVENT_TYPES });
      for (const event of page) evolveKpi(state, event, emit);
      if (page.length < pageSize || stopped) return;
    }
  }

  /** Reads what is new, after the read in progress; wake-ups while one waits share it. */
  function read(): Promise<void> {
    if (queued) return reading;
    queued = true;
    reading = reading.then(() => {
      queued = false;
      return readPages();
    });
    return reading;
  }

  function follow(): void {
    read().catch((error: unknown) => options.onError?.(ensureError(error)));
  }

  async function readableUpTo(head: number): Promise<void> {
    while (!stopped && !(await isFinalHead(store, head))) {
      await new Promise((resolve) => setTimeout(resolve, SAFE_HEAD_RETRY_MS));
    }
  }

  async function caughtUp(): Promise<void> {
    const head = await store.headPosition();
    if (head <= state.position) return;
    await readableUpTo(head);
    await read();
    // Every event of the projection's types up to the head is folded, whatever type the head's is.
    state.position = Math.max(state.position, head);
  }

  async function deadLetteredOrders(): Promise<Set<string>> {
    const parked = await deadLetters.count('parked');
    if (parked === 0) return new Set();
    const entries = await deadLetters.list({ status: 'parked', limit: parked });
    const orders = new Set<string>();
    for (const { message } of entries) {
      orders.add(message.correlationid);
      const orderId = (message.data as { orderId?: unknown } | null)?.orderId;
      if (typeof orderId === 'string') orders.add(orderId);
    }
    return orders;
  }

  async function ordersAtRisk(): Promise<AtRiskOrder[]> {
    return ordersAtRiskOf(state, {
      now: now().getTime(),
      objectives,
      deadLettered: await deadLetteredOrders(),
    });
  }

  return {
    async start() {
      unlisten = store.onEventsCommitted(follow);
      timer = setInterval(follow, pollIntervalMs);
      timer.unref();
      await caughtUp();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      unlisten?.();
      await reading.catch(() => undefined);
    },
    caughtUp,
    snapshot: () => snapshotOf(state),
    ordersAtRisk,
    async revenueAtRisk() {
      return revenueAtRiskOf(state, await ordersAtRisk());
    },
    onStageEnd(listener) {
      for (const order of state.orders.values()) {
        const { placedAt, confirmedAt, shippedAt, deliveredAt } = order;
        if (confirmedAt !== undefined) {
          listener({ stage: 'placed_to_confirmed', seconds: Math.max(0, (confirmedAt - placedAt) / 1000) });
          if (shippedAt !== undefined) {
            listener({
              stage: 'confirmed_to_shipped',
              seconds: Math.max(0, (shippedAt - confirmedAt) / 1000),
            });
          }
        }
        if (deliveredAt !== undefined) {
          listener({ stage: 'placed_to_delivered', seconds: Math.max(0, (deliveredAt - placedAt) / 1000) });
        }
      }
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

import type { EventStore } from '../../event-store/index.ts';
import type { Order } from './domain/order.ts';

/**
 * Live order views for server-sent events and `Prefer: wait`: after each commit that touched an
 * order somebody is watching, the order's view is loaded once (however many events the commit
 * held) and handed to its watchers. Nothing is polled, and orders nobody watches cost a map lookup.
 */
export interface OrderUpdates {
  /** Calls `listener` with the order's fresh view after each commit that touched it. */
  watch(orderId: string, listener: (order: Order) => void): () => void;
  /** Resolves with the first view that satisfies `until` (checked at once, then on each change), or the last one at timeout. */
  waitFor(orderId: string, until: (order: Order) => boolean, timeoutMs: number): Promise<Order | undefined>;
  close(): void;
}

export interface OrderUpdatesOptions {
  store: EventStore;
  /** The order's current view (every event correlated with it). */
  load: (orderId: string) => Promise<Order | undefined>;
  onError?: (error: unknown) => void;
}

export function createOrderUpdates(options: OrderUpdatesOptions): OrderUpdates {
  const { store, load } = options;
  const watchers = new Map<string, Set<(order: Order) => void>>();
  const dirty = new Set<string>();
  let flushing = false;

  const unsubscribe = store.onEventsCommitted((events) => {
    for (const event of events) {
      const id = event.correlationId;
      if (id !== undefined && watchers.has(id)) dirty.add(id);
    }
    if (dirty.size > 0 && !flushing) {
      flushing = true;
      // After the commit's other listeners: one load per order per commit.
      setImmediate(flush);
    }
  });

  function flush(): void {
    flushing = false;
    const ids = [...dirty];
    dirty.clear();
    for (const id of ids) {
      load(id).then(
        (order) => {
          if (order === undefined) return;
          for (const listener of watchers.get(id) ?? []) listener(order);
        },
        (error: unknown) => options.onError?.(error),
      );
    }
  }

  function watch(orderId: string, listener: (order: Order) => void): () => void {
    let set = watchers.get(orderId);
    if (set === undefined) watchers.set(orderId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) watchers.delete(orderId);
    };
  }

  return {
    watch,
    async waitFor(orderId, until, timeoutMs) {
      let latest: Order | undefined;
      return new Promise<Order | undefined>((resolve) => {
        let done = false;
        const finish = (order: Order | undefined): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          stop();
          resolve(order);
        };
        const stop = watch(orderId, (order) => {
          latest = order;
          if (until(order)) finish(order);
        });
        const timer = setTimeout(() => finish(latest), timeoutMs);
        // The outcome may have committed before the watch began.
        load(orderId).then(
          (order) => {
            if (order === undefined) return;
            latest ??= order;
            if (until(order)) finish(order);
          },
          (error: unknown) => {
            options.onError?.(error);
            finish(latest);
          },
        );
      });
    },
    close() {
      unsubscribe();
      watchers.clear();
    },
  };
}

import type { EventStore, StoredEvent } from './event-store.ts';

/**
 * Loads an event-sourced aggregate's state: folds its stream with `evolve`, and keeps the result
 * per stream so that the next load reads only the events after the cached version. Hot streams
 * (a flash-sale SKU's stock, with thousands of reservations) stay cheap to load without snapshots.
 *
 * The cache holds only committed events read back from the store, so a unit of work that fails
 * leaves it untouched; and because it catches up from the store on every load, a stream written by
 * another process is still read correctly. `evolve` must not mutate the state it is given.
 */
export interface AggregateLoaderOptions<S> {
  store: EventStore;
  /** State of a stream with no events. */
  initial: () => S;
  evolve: (state: S, event: StoredEvent) => S;
  /**
   * Streams kept in memory; the least recently used goes first.
   * @default 10000
   */
  maxEntries?: number;
}

export interface LoadedAggregate<S> {
  state: S;
  /** Version of the last event folded in; -1 for a stream with no events. */
  version: number;
}

export interface AggregateLoader<S> {
  load(streamId: string): Promise<LoadedAggregate<S>>;
}

export function createAggregateLoader<S>(options: AggregateLoaderOptions<S>): AggregateLoader<S> {
  const { store, evolve } = options;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, LoadedAggregate<S>>();

  return {
    async load(streamId) {
      const cached = cache.get(streamId);
      let state = cached?.state ?? options.initial();
      let version = cached?.version ?? -1;
      const events = await store.readStream(streamId, { fromVersion: version + 1 });
      for (const event of events) {
        state = evolve(state, event);
        version = event.version;
      }
      const loaded = { state, version };
      // Re-inserting moves the entry to the end: Map iteration order is the LRU order.
      cache.delete(streamId);
      if (version >= 0) cache.set(streamId, loaded);
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
      return loaded;
    },
  };
}

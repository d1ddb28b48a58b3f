import type { EventStore } from './event-store.ts';

/**
 * Whether every event at or below `head` is final: the head's own event reads back through
 * `readAll`, which (PostgreSQL included) reads only up to a position below which nothing can commit
 * any more. A reader that filters by type learns nothing of how far the log was scanned from a short
 * page; once the head is final, it may move its position up to the head past events of other types.
 */
export async function isFinalHead(store: EventStore, head: number): Promise<boolean> {
  return head >= 0 && (await store.readAll({ after: head - 1, maxCount: 1 })).length > 0;
}

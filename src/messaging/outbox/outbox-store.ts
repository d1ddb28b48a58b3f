import type { Envelope } from '../../kernel/envelope.ts';

/** One message waiting in a transactional outbox. */
export interface OutboxRecord {
  /** Position in the outbox, increasing in insert order. */
  seq: number;
  message: Envelope;
  /** When set, only this consumer group receives the message (dead-letter redrive). */
  targetGroup: string | null;
}

/**
 * The relay's view of a transactional outbox (distributed mode): the rows committed with the events
 * that caused them, not yet handed to the broker. Adapters: `postgres-outbox.ts`.
 *
 * Rows are returned in `seq` order. A row committed late (its seq drawn before a row already
 * returned) is returned by a later fetch: the outbox is read by a published flag, never by a
 * "last seq" checkpoint, so nothing is ever skipped.
 */
export interface OutboxStore {
  /** Up to `limit` committed, unpublished rows, lowest seq first. */
  fetchUnpublished(limit: number): Promise<OutboxRecord[]>;
  /** Marks rows as handed to the broker; they are never fetched again. */
  markPublished(seqs: readonly number[]): Promise<void>;
  /** Hears that rows may be available (a commit, in this process or another); returns an unsubscribe. */
  onAvailable(listener: () => void): () => void;
  /**
   * Leadership: only one relay may publish at a time across processes (per-key order). Resolves true
   * while this store holds the lead (cheap when already held), false while another process holds it.
   * Absent: the store has a single relay by construction.
   */
  tryLead?(): Promise<boolean>;
  /** Gives the lead up (called by the relay on stop). */
  resign?(): Promise<void>;
  /**
   * Deletes up to `limit` rows published before `before`, oldest first, and says how many. Never
   * touches an unpublished row. Absent: the store keeps its rows (or prunes them itself).
   */
  prunePublished?(before: Date, limit: number): Promise<number>;
}

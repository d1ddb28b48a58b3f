import type { PostgresQuery } from './postgres-reads.ts';
import { quoteIdentifier, releaseDueMessagesSql } from './postgres-schema.ts';

/**
 * Durable timers on PostgreSQL. They are scheduled and cancelled by the commit function with the
 * unit of work that asks for them; this releases the due ones.
 */
export interface PostgresScheduledMessages {
  /**
   * Moves the messages due at `nowMs`, at most `limit`, oldest first, into the outbox in one
   * statement (SKIP LOCKED: several processes release concurrently without double-publishing).
   */
  release(nowMs: number, limit: number): Promise<{ released: number; nextDueAt: number | null }>;
}

export function createPostgresScheduledMessages(
  query: PostgresQuery,
  schema: string,
): PostgresScheduledMessages {
  const s = quoteIdentifier(schema);
  const releaseDue = releaseDueMessagesSql(schema);
  return {
    async release(nowMs, limit) {
      const released = await query<{ seq: string }>(releaseDue, [nowMs, limit]);
      const next = await query<{ due_at: string | null }>(
        `SELECT min(due_at) AS due_at FROM ${s}.scheduled_messages`,
      );
      const nextDueAt = next[0]?.due_at;
      return {
        released: released.length,
        nextDueAt: nextDueAt === null || nextDueAt === undefined ? null : Number(nextDueAt),
      };
    },
  };
}

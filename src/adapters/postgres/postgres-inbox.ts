import type { PostgresQuery } from './postgres-reads.ts';
import { quoteIdentifier } from './postgres-schema.ts';

/** The inbox: which messages each consumer group has handled (marks are written by the commit function). */
export interface PostgresInbox {
  isHandled(consumer: string, messageId: string): Promise<boolean>;
}

export function createPostgresInbox(query: PostgresQuery, schema: string): PostgresInbox {
  const s = quoteIdentifier(schema);
  return {
    async isHandled(consumer, messageId) {
      const rows = await query(`SELECT 1 FROM ${s}.inbox WHERE consumer = $1 AND message_id = $2`, [
        consumer,
        messageId,
      ]);
      return rows.length > 0;
    },
  };
}

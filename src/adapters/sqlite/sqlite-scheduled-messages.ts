import type { Envelope } from '../../kernel/envelope.ts';
import type { ScheduledMessage } from '../../event-store/event-store.ts';
import type { SqliteDatabase, WriteContext } from './sqlite-database.ts';
import type { SqliteOutbox } from './sqlite-outbox.ts';

/**
 * Durable timers of the embedded mode: messages to publish at a later time, kept in the same file
 * and committed with the unit of work that scheduled them. When due they move to the outbox in one
 * transaction, so a timer fires exactly once into the bus (consumers dedupe a redelivery as usual).
 */
export interface SqliteScheduledMessages {
  insert(context: WriteContext, scheduled: readonly ScheduledMessage[], now: number): void;
  /** Drops scheduled messages by message id, inside a queued write. */
  cancel(ids: readonly string[]): void;
  release(now: number, limit: number): Promise<{ released: number; nextDueAt: number | null }>;
  onScheduled(listener: (dueAt: number) => void): () => void;
}

const SCHEMA = `
CREATE TABLE scheduled_messages (
  seq INTEGER PRIMARY KEY,
  due_at INTEGER NOT NULL,
  envelope TEXT NOT NULL
) STRICT;
CREATE INDEX scheduled_messages_due ON scheduled_messages (due_at, seq);
`;

export function createSqliteScheduledMessages(
  database: SqliteDatabase,
  outbox: SqliteOutbox,
): SqliteScheduledMessages {
  const { db } = database;
  database.migrate('0005_scheduled_messages', SCHEMA);
  // Cancellable timers: the message id, indexed (rows from before this column cannot be cancelled).
  database.migrate(
    '0006_scheduled_message_ids',
    `ALTER TABLE scheduled_messages ADD COLUMN message_id TEXT;
     CREATE INDEX scheduled_messages_by_id ON scheduled_messages (message_id);`,
  );
  const insertRow = db.prepare<[number, string, string]>(
    'INSERT INTO scheduled_messages (due_at, envelope, message_id) VALUES (?, ?, ?)',
  );
  const deleteById = db.prepare<[string]>('DELETE FROM scheduled_messages WHERE message_id = ?');
  const selectDue = db.prepare<[number, number], { seq: number; envelope: string }>(
    'SELECT seq, envelope FROM scheduled_messages WHERE due_at <= ? ORDER BY due_at, seq LIMIT ?',
  );
  const deleteRow = db.prepare<[number]>('DELETE FROM scheduled_messages WHERE seq = ?');
  const selectNext = db.prepare<[], { due_at: number }>(
    'SELECT due_at FROM scheduled_messages ORDER BY due_at LIMIT 1',
  );
  const listeners = new Set<(dueAt: number) => void>();

  return {
    insert(context, scheduled, now) {
      let earliest = Infinity;
      const dueNow: Envelope[] = [];
      for (const { message, dueAt } of scheduled) {
        if (dueAt <= now) {
          dueNow.push(message);
        } else {
          insertRow.run(dueAt, JSON.stringify(message), message.id);
          earliest = Math.min(earliest, dueAt);
        }
      }
      if (dueNow.length > 0) outbox.insert(context, dueNow);
      if (earliest !== Infinity && listeners.size > 0) {
        context.afterCommit(() => {
          for (const listener of listeners) listener(earliest);
        });
      }
    },
    cancel(ids) {
      for (const id of ids) deleteById.run(id);
    },
    release(now, limit) {
      return database.write((context) => {
        const rows = selectDue.all(now, limit);
        if (rows.length > 0) {
          outbox.insert(
            context,
            rows.map((row) => JSON.parse(row.envelope) as Envelope),
          );
          for (const row of rows) deleteRow.run(row.seq);
        }
        return { released: rows.length, nextDueAt: selectNext.get()?.due_at ?? null };
      });
    },
    onScheduled(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

import type { Statement } from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { SqliteDatabase } from './sqlite-database.ts';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import type { Envelope } from '../../kernel/envelope.ts';
import type {
  DeadLetter,
  DeadLetterError,
  DeadLetterStatus,
  DeadLetterStore,
  ListDeadLettersOptions,
  NewDeadLetter,
} from '../../messaging/dead-letter/dead-letter-store.ts';

export interface SqliteDeadLetterStoreOptions {
  /** The embedded database; entries are written through its group-commit writer. */
  database: SqliteDatabase;
  /** Clock for `deadLetteredAt` / `redrivenAt`. @default () => new Date() */
  now?: () => Date;
}

const SCHEMA = `
CREATE TABLE dead_letters (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  group_name TEXT NOT NULL,
  message_id TEXT NOT NULL,
  message_type TEXT NOT NULL,
  message TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('parked', 'redriven')),
  dead_lettered_at TEXT NOT NULL,
  redriven_at TEXT
) STRICT;
-- At most one parked entry per (group, message): add() is idempotent while it is parked.
CREATE UNIQUE INDEX dead_letters_parked ON dead_letters (group_name, message_id) WHERE status = 'parked';
CREATE INDEX dead_letters_status ON dead_letters (status, seq);
`;

interface Row {
  id: string;
  group_name: string;
  message: string;
  error: string;
  attempts: number;
  status: DeadLetterStatus;
  dead_lettered_at: string;
  redriven_at: string | null;
}

const COLUMNS = 'id, group_name, message, error, attempts, status, dead_lettered_at, redriven_at';

/** The embedded dead-letter store: one table in the shared SQLite file. Lists newest first. */
export function createSqliteDeadLetterStore(options: SqliteDeadLetterStoreOptions): DeadLetterStore {
  const { database } = options;
  const now = options.now ?? (() => new Date());
  database.migrate('0004_dead_letters', SCHEMA);
  const { db } = database;
  const selectById = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM dead_letters WHERE id = ?`);
  const selectParked = db.prepare<[string, string], Row>(
    `SELECT ${COLUMNS} FROM dead_letters WHERE group_name = ? AND message_id = ? AND status = 'parked'`,
  );
  const insert = db.prepare<[string, string, string, string, string, string, number, string]>(
    `INSERT INTO dead_letters (id, group_name, message_id, message_type, message, error, attempts, status, dead_lettered_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'parked', ?)`,
  );
  const markRedriven = db.prepare<[string, string]>(
    `UPDATE dead_letters SET status = 'redriven', redriven_at = ? WHERE id = ? AND status = 'parked'`,
  );
  const countAll = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM dead_letters');
  const listStatements = new Map<string, Statement<(string | number)[], Row>>();
  const countByStatus = db.prepare<[string], { n: number }>(
    'SELECT COUNT(*) AS n FROM dead_letters WHERE status = ?',
  );

  return {
    add(entry: NewDeadLetter) {
      const error = JSON.stringify(cleanError(entry.error));
      const message = JSON.stringify(entry.message);
      const time = now().toISOString();
      return database.write(() => {
        const parked = selectParked.get(entry.group, entry.message.id);
        if (parked !== undefined) return toDeadLetter(parked);
        const id = randomUUID();
        insert.run(
          id,
          entry.group,
          entry.message.id,
          entry.message.type,
          message,
          error,
          entry.attempts,
          time,
        );
        return toDeadLetter(selectById.get(id)!);
      });
    },

    async list(listOptions: ListDeadLettersOptions = {}) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (listOptions.status !== undefined) {
        where.push('status = ?');
        params.push(listOptions.status);
      }
      if (listOptions.group !== undefined) {
        where.push('group_name = ?');
        params.push(listOptions.group);
      }
      params.push(Math.max(0, Math.floor(listOptions.limit ?? 100)));
      const sql = `SELECT ${COLUMNS} FROM dead_letters ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
      // Four shapes at most: prepare each once.
      let statement = listStatements.get(sql);
      if (statement === undefined) {
        statement = db.prepare<(string | number)[], Row>(sql);
        listStatements.set(sql, statement);
      }
      return statement.all(...params).map(toDeadLetter);
    },

    async get(id: string) {
      const row = selectById.get(id);
      return row === undefined ? undefined : toDeadLetter(row);
    },

    markRedriven(id: string) {
      const time = now().toISOString();
      return database.write(() => {
        const row = selectById.get(id);
        if (row === undefined) {
          throw new AppError(ERROR_CODES.DEAD_LETTER_NOT_FOUND, `dead letter ${id} not found`, {
            details: { id },
          });
        }
        if (row.status === 'redriven') {
          throw new AppError(
            ERROR_CODES.DEAD_LETTER_ALREADY_REDRIVEN,
            `dead letter ${id} was already re-driven at ${row.redriven_at ?? 'an unknown time'}`,
            { details: { id, redrivenAt: row.redriven_at } },
          );
        }
        markRedriven.run(time, id);
        return toDeadLetter(selectById.get(id)!);
      });
    },

    async count(status?: DeadLetterStatus) {
      return (status === undefined ? countAll.get() : countByStatus.get(status))?.n ?? 0;
    },
  };
}

function cleanError(error: DeadLetterError): DeadLetterError {
  return {
    name: error.name,
    message: error.message,
    ...(error.code !== undefined ? { code: error.code } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
  };
}

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id,
    group: row.group_name,
    message: JSON.parse(row.message) as Envelope,
    error: JSON.parse(row.error) as DeadLetterError,
    attempts: row.attempts,
    status: row.status,
    deadLetteredAt: row.dead_lettered_at,
    ...(row.redriven_at !== null ? { redrivenAt: row.redriven_at } : {}),
  };
}

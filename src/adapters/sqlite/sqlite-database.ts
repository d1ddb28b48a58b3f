import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';

/**
 * One SQLite file shared by everything the embedded mode keeps durable: the event store, the outbox
 * (which is also the embedded bus's log), inboxes, checkpoints, bus offsets and dead letters.
 *
 * It has exactly one writer, this object, and that writer group-commits: every write queued in the
 * same tick runs inside one transaction, each in its own savepoint so that one failure (a version
 * conflict, say) rolls back only its own unit, and the whole tick costs one fsync. Reads run
 * directly on the connection and see only committed data, since writes happen inside `flush`.
 */
export interface SqliteDatabaseOptions {
  /** Path of the database file, or `:memory:` for unit tests. */
  filename: string;
  /**
   * SQLite `synchronous` pragma. FULL fsyncs every commit, so an acknowledged write survives power loss.
   * @default 'FULL'
   */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
  /**
   * Largest number of queued writes committed in one transaction.
   * @default 10000
   */
  maxBatch?: number;
}

/** What a queued write may use besides the connection. */
export interface WriteContext {
  readonly db: Database.Database;
  /** Runs after the transaction that holds this write has committed (never if it rolled back). */
  afterCommit(callback: () => void): void;
}

interface QueuedWrite {
  work: (context: WriteContext) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface SqliteDatabase {
  readonly db: Database.Database;
  readonly filename: string;
  /** Creates a module's tables once; `name` identifies the migration, `sql` must be idempotent-safe to run once. */
  migrate(name: string, sql: string): void;
  /** Queues a write for the next group commit; resolves with its result once durable. */
  write<T>(work: (context: WriteContext) => T): Promise<T>;
  /** Called after every group commit, with the number of writes it held. */
  onCommit(listener: (writes: number) => void): () => void;
  /** Number of group commits and writes so far (for metrics and benchmarks). */
  stats(): { commits: number; writes: number };
  readonly closed: boolean;
  /** Commits what is queued, then closes the connection. */
  close(): Promise<void>;
}

export function openSqliteDatabase(options: SqliteDatabaseOptions): SqliteDatabase {
  const { filename } = options;
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  const db = new Database(filename);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  db.pragma('foreign_keys = OFF');
  // A checkpoint every ~4 MB of WAL keeps reads fast without stalling writes often.
  db.pragma('wal_autocheckpoint = 1000');
  db.pragma('cache_size = -65536');
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
  ) STRICT`);

  const maxBatch = options.maxBatch ?? 10_000;
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const savepoint = db.prepare('SAVEPOINT unit');
  const release = db.prepare('RELEASE unit');
  const rollbackTo = db.prepare('ROLLBACK TO unit');
  const hasMigration = db.prepare<[string], { name: string }>(
    'SELECT name FROM schema_migrations WHERE name = ?',
  );
  const recordMigration = db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)');

  let queue: QueuedWrite[] = [];
  let scheduled = false;
  let closed = false;
  let commits = 0;
  let writes = 0;
  const listeners = new Set<(writes: number) => void>();

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    if (queue.length === 0) return;
    const batch = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
    if (batch === queue) queue = [];
    if (queue.length > 0) schedule();

    const results: unknown[] = new Array(batch.length);
    const failures: unknown[] = new Array(batch.length);
    const callbacks: (() => void)[] = [];
    try {
      begin.run();
      for (let i = 0; i < batch.length; i++) {
        const item = batch[i]!;
        const unitCallbacks: (() => void)[] = [];
        savepoint.run();
        try {
          results[i] = item.work({ db, afterCommit: (callback) => unitCallbacks.push(callback) });
          release.run();
          for (const callback of unitCallbacks) callbacks.push(callback);
        } catch (error) {
          rollbackTo.run();
          release.run();
          failures[i] = error ?? new AppError(ERROR_CODES.INTERNAL, 'write failed');
        }
      }
      commit.run();
    } catch (error) {
      // The transaction itself failed (disk full, I/O error): nothing of this batch is durable.
      if (db.inTransaction) rollback.run();
      for (const item of batch) item.reject(error);
      return;
    }
    commits++;
    writes += batch.length;
    for (const callback of callbacks) runSafely(callback);
    for (let i = 0; i < batch.length; i++) {
      const failure = failures[i];
      if (failure !== undefined) batch[i]!.reject(failure);
      else batch[i]!.resolve(results[i]);
    }
    for (const listener of listeners) runSafely(() => listener(batch.length));
  }

  return {
    db,
    filename,
    get closed() {
      return closed;
    },
    migrate(name, sql) {
      if (hasMigration.get(name) !== undefined) return;
      db.transaction(() => {
        db.exec(sql);
        recordMigration.run(name, new Date().toISOString());
      })();
    },
    write<T>(work: (context: WriteContext) => T): Promise<T> {
      if (closed) {
        return Promise.reject(new AppError(ERROR_CODES.STORE_CLOSED, 'the database is closed'));
      }
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      });
    },
    onCommit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stats: () => ({ commits, writes }),
    async close() {
      if (closed) return;
      while (queue.length > 0) flush();
      closed = true;
      db.close();
    },
  };
}

function runSafely(callback: () => void): void {
  try {
    callback();
  } catch (error) {
    // A post-commit callback must not undo or block the commit; report and carry on.
    queueMicrotask(() => {
      throw error;
    });
  }
}

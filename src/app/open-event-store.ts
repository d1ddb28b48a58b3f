import { createPostgresEventStore } from '../adapters/postgres/postgres-event-store.ts';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../adapters/sqlite/sqlite-outbox.ts';
import type { AppConfig } from '../config/load-config.ts';
import type { EventStore } from '../event-store/index.ts';
import { unreachable } from './distributed-adapters.ts';

/**
 * The configured event store alone, for tools that read what a deployment stored (the benchmark's
 * checks, and later rebuilds and exports): the SQLite file of the data dir, or the namespace's
 * PostgreSQL schema. Reads go through the EventStore port, never the tables. Close it when done.
 */
export async function openEventStore(config: AppConfig): Promise<EventStore> {
  if (config.store.kind === 'sqlite') {
    const database = openSqliteDatabase({
      filename: config.store.file,
      synchronous: config.sqliteSynchronous,
    });
    return createSqliteEventStore({ database, outbox: createSqliteOutbox(database) });
  }
  const store = createPostgresEventStore({ url: config.store.url, schema: config.namespace, poolSize: 2 });
  try {
    await store.start();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw unreachable('PostgreSQL', config.store.url, error);
  }
  return store;
}

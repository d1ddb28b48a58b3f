import fs from 'node:fs/promises';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../adapters/sqlite/sqlite-outbox.ts';
import type { EventStore } from '../event-store/index.ts';
import { createSqliteDeadLetterStore } from '../adapters/sqlite/sqlite-dead-letter-store.ts';
import type { DeadLetterStore, Transport } from '../messaging/index.ts';
import { createEmbeddedTransport } from '../adapters/sqlite/embedded-transport.ts';

export interface EmbeddedAdapters {
  store: EventStore;
  transport: Transport;
  deadLetters: DeadLetterStore;
  /** True once the database is closed (the store's close() closes it). */
  closed(): boolean;
  /** Group commits and the writes they held, for metrics. */
  stats(): { commits: number; writes: number };
  /** Bytes of the SQLite file and its write-ahead log, for the cost-per-order estimate. */
  storageBytes(): Promise<number>;
}

export interface EmbeddedAdaptersOptions {
  file: string;
  synchronous: 'FULL' | 'NORMAL';
  partitions: number;
  onTransportError?: (error: Error) => void;
}

/**
 * The embedded mode's adapters on one SQLite file: the event store, its outbox (which is also the
 * bus's log), the embedded transport and the dead-letter store. Closing the store closes the file,
 * so close it after the transport.
 */
export function createEmbeddedAdapters(options: EmbeddedAdaptersOptions): EmbeddedAdapters {
  const database = openSqliteDatabase({ filename: options.file, synchronous: options.synchronous });
  const outbox = createSqliteOutbox(database);
  const store = createSqliteEventStore({ database, outbox });
  const transport = createEmbeddedTransport({
    database,
    outbox,
    partitions: options.partitions,
    ...(options.onTransportError !== undefined ? { onError: options.onTransportError } : {}),
  });
  const deadLetters = createSqliteDeadLetterStore({ database });
  return {
    store,
    transport,
    deadLetters,
    closed: () => database.closed,
    stats: () => database.stats(),
    storageBytes: () => fileBytes(options.file, `${options.file}-wal`),
  };
}

async function fileBytes(...files: string[]): Promise<number> {
  const sizes = await Promise.all(
    files.map((file) =>
      fs.stat(file).then(
        (stat) => stat.size,
        () => 0,
      ),
    ),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

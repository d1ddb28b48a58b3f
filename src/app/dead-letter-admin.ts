import fs from 'node:fs';
import type { AppConfig } from '../config/load-config.ts';
import type { EventStore } from '../event-store/index.ts';
import {
  deadLetterRedrivenAction,
  recordOperatorAction,
  redriveDeadLetter,
  type DeadLetter,
  type ListDeadLettersOptions,
} from '../messaging/index.ts';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../kernel/errors.ts';
import { runningServerPid } from './data-dir.ts';
import { createEmbeddedAdapters } from './embedded-adapters.ts';
import { unreachable } from './distributed-adapters.ts';
import { openEventStore } from './open-event-store.ts';
import { createPostgresDeadLetterStore } from '../adapters/postgres/postgres-dead-letter-store.ts';
import { createNatsTransport } from '../adapters/nats/nats-transport.ts';

export interface DeadLetterAdmin {
  list(options?: ListDeadLettersOptions): Promise<DeadLetter[]>;
  redrive(id: string): Promise<DeadLetter>;
  close(): Promise<void>;
}

/**
 * Dead letters of an embedded data dir, for the CLI (`orderflow dead-letters …`), without starting
 * a server. Re-driving needs the data dir to itself: the embedded bus of a running server follows
 * only its own process's commits and would pass over a message re-driven from outside.
 */
export async function openDeadLetterAdmin(config: AppConfig): Promise<DeadLetterAdmin> {
  if (config.store.kind === 'postgres' && config.bus.kind === 'nats') {
    return openDistributedDeadLetterAdmin(config, config.store.url, config.bus.url);
  }
  if (config.store.kind !== 'sqlite') {
    throw InvalidOptionsError.format(
      'ORDERFLOW_BUS',
      `must be a nats:// URL when ORDERFLOW_STORE is a postgres:// URL (got ${config.bus.kind})`,
    );
  }
  const { file } = config.store;
  if (!fs.existsSync(file)) {
    throw new AppError(
      ERROR_CODES.NOT_FOUND,
      `no Orderflow data in ${config.dataDir} (${file} does not exist)`,
    );
  }
  const adapters = createEmbeddedAdapters({
    file,
    synchronous: config.sqliteSynchronous,
    partitions: config.partitions,
  });
  const { deadLetters, transport, store } = adapters;
  return {
    list: (options) => deadLetters.list(options),
    async redrive(id) {
      const pid = await runningServerPid(config.dataDir);
      if (pid !== undefined) {
        throw new AppError(
          ERROR_CODES.DATA_DIR_IN_USE,
          `Orderflow (pid ${pid}) is running on ${config.dataDir}: redrive through it with POST /v1/admin/dead-letters/${id}/redrive, or stop it first`,
        );
      }
      const letter = await redriveDeadLetter(id, { deadLetters, transport });
      await recordOperatorAction(store, deadLetterRedrivenAction(letter, 'cli'));
      return letter;
    },
    async close() {
      await transport.close();
      await store.close();
    },
  };
}

/**
 * Distributed mode: the dead letters live in PostgreSQL and a redrive goes straight to JetStream, so
 * the CLI may redrive while servers run (every process reads the broker, not its own commits).
 */
async function openDistributedDeadLetterAdmin(
  config: AppConfig,
  storeUrl: string,
  busUrl: string,
): Promise<DeadLetterAdmin> {
  const deadLetters = createPostgresDeadLetterStore({ url: storeUrl, schema: config.namespace });
  try {
    await deadLetters.start();
  } catch (error) {
    await deadLetters.close().catch(() => undefined);
    throw unreachable('PostgreSQL', storeUrl, error);
  }
  const transport = createNatsTransport({
    servers: busUrl,
    namespace: config.namespace,
    partitions: config.partitions,
    name: 'orderflow-cli',
  });
  let connected = false;
  // Opened with the first redrive, like the bus: listing needs neither.
  let store: EventStore | undefined;
  return {
    list: (options) => deadLetters.list(options),
    async redrive(id) {
      if (!connected) {
        try {
          await transport.start();
        } catch (error) {
          throw unreachable('NATS', busUrl, error);
        }
        connected = true;
      }
      store ??= await openEventStore(config);
      const letter = await redriveDeadLetter(id, { deadLetters, transport });
      await recordOperatorAction(store, deadLetterRedrivenAction(letter, 'cli'));
      return letter;
    },
    async close() {
      await transport.close();
      await store?.close();
      await deadLetters.close();
    },
  };
}

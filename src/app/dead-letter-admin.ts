import fs from 'node:fs';
import type { AppConfig } from '../config/load-config.ts';
import { redriveDeadLetter, type DeadLetter, type ListDeadLettersOptions } from '../messaging/index.ts';
import { AppError, ERROR_CODES } from '../shared/errors.ts';
import { runningServerPid } from './data-dir.ts';
import { createEmbeddedAdapters } from './embedded-adapters.ts';

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
  if (config.store.kind !== 'sqlite') {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      'validation',
      'distributed mode is not available in this build yet',
    );
  }
  const { file } = config.store;
  if (!fs.existsSync(file)) {
    throw new AppError(
      ERROR_CODES.NOT_FOUND,
      'not_found',
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
          'conflict',
          `Orderflow (pid ${pid}) is running on ${config.dataDir}: redrive through it with POST /v1/admin/dead-letters/${id}/redrive, or stop it first`,
        );
      }
      return redriveDeadLetter(id, { deadLetters, transport });
    },
    async close() {
      await transport.close();
      await store.close();
    },
  };
}

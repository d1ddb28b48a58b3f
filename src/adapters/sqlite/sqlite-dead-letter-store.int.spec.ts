import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { deadLetterStoreContract } from '../../messaging/testing/dead-letter-store-contract.ts';
import { createSqliteDeadLetterStore } from './sqlite-dead-letter-store.ts';

deadLetterStoreContract('SQLite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-dlq-'));
  const filename = path.join(dir, 'dlq.sqlite');
  let database: SqliteDatabase | undefined;
  const open = async () => {
    database = openSqliteDatabase({ filename });
    return createSqliteDeadLetterStore({ database });
  };
  return {
    open,
    reopen: open,
    async close() {
      await database?.close();
    },
    async cleanup() {
      if (database !== undefined && !database.closed) await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

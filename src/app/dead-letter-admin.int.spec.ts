import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../../test/support/test-app.ts';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteDeadLetterStore } from '../adapters/sqlite/sqlite-dead-letter-store.ts';
import { SQLITE_FILE_NAME } from '../config/load-config.ts';
import { createEnvelope } from '../kernel/envelope.ts';
import { readOperatorActions, type DeadLetter } from '../messaging/index.ts';
import { openDeadLetterAdmin } from './dead-letter-admin.ts';
import { openEventStore } from './open-event-store.ts';

/*
 * A dead-letter redrive, over HTTP or from the CLI, is recorded as an operator action (incident
 * timelines show it); a refused one records nothing.
 */

/** Parks a message for a group nobody runs, through a second connection to the data dir's file. */
async function park(dataDir: string): Promise<DeadLetter> {
  const database = openSqliteDatabase({ filename: path.join(dataDir, SQLITE_FILE_NAME) });
  try {
    const orderId = randomUUID();
    return await createSqliteDeadLetterStore({ database }).add({
      group: 'redrive-probe',
      message: createEnvelope(
        { type: 'orders.OrderPlaced', data: { orderId }, correlationId: orderId },
        { source: 'test' },
      ),
      error: { name: 'Error', message: 'probe was down' },
      attempts: 3,
    });
  } finally {
    await database.close();
  }
}

describe('dead-letter redrives are operator actions', () => {
  let t: TestApp | undefined;

  afterEach(async () => {
    await t?.app.stop();
    if (t !== undefined) removeDir(t.dataDir);
    t = undefined;
  });

  it('records one action per redrive, over HTTP and from the CLI', async () => {
    t = await startTestApp();
    const { app, url, dataDir } = t;
    const redrive = (id: string) =>
      fetch(`${url}/v1/admin/dead-letters/${id}/redrive`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
      });
    const overHttp = await park(dataDir);
    expect((await redrive(overHttp.id)).status).toBe(200);
    expect((await redrive(overHttp.id)).status).toBe(409);
    expect((await redrive(randomUUID())).status).toBe(404);
    await app.stop();

    const fromCli = await park(dataDir);
    const admin = await openDeadLetterAdmin(app.config);
    try {
      await admin.redrive(fromCli.id);
    } finally {
      await admin.close();
    }

    const store = await openEventStore(app.config);
    try {
      const actions = await readOperatorActions(store);
      const expected = (letter: DeadLetter, via: string) =>
        expect.objectContaining({
          kind: 'dead_letter_redriven',
          text: `dead letter ${letter.id} (orders.OrderPlaced) re-driven to redrive-probe`,
          details: expect.objectContaining({
            deadLetterId: letter.id,
            group: 'redrive-probe',
            correlationId: letter.message.correlationid,
            via,
          }),
        }) as unknown;
      expect(actions).toEqual([expected(overHttp, 'http'), expected(fromCli, 'cli')]);
    } finally {
      await store.close();
    }
  });
});

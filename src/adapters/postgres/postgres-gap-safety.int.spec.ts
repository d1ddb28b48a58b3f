import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../../test/support/services.ts';
import type { StoredEvent } from '../../event-store/event-store.ts';
import { createPostgresEventStore, type PostgresEventStore } from './postgres-event-store.ts';
import { POSTGRES_URL, dropSchema, randomSchema } from '../../../test/support/postgres.ts';

const available = await serviceAvailable('postgres');

const WRITERS = 16;
const APPENDS_PER_WRITER = 25;
const ROLLBACK_RATE = 0.2;
const MAX_DELAY_MS = 25;

class InjectedRollback extends Error {}

/**
 * Positions are drawn at INSERT and become visible at COMMIT, out of order. Here 16 writers on 16
 * connections hold their transactions open for a random time after inserting (and roll back one
 * unit in five) while a catch-up subscription and a readAll loop follow the log. Neither may skip an
 * event that commits late, deliver one twice, or deliver a rolled-back one.
 */
describe.runIf(available)('PostgresEventStore gap safety', () => {
  let schema: string;
  let writer: PostgresEventStore;
  let reader: PostgresEventStore;

  beforeEach(async () => {
    schema = randomSchema();
    writer = createPostgresEventStore({
      url: POSTGRES_URL,
      schema,
      poolSize: WRITERS,
      beforeCommit: async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * MAX_DELAY_MS));
        if (Math.random() < ROLLBACK_RATE) throw new InjectedRollback('injected rollback');
      },
    });
    reader = createPostgresEventStore({ url: POSTGRES_URL, schema, poolSize: 4 });
    await writer.start();
    await reader.start();
  });

  afterEach(async () => {
    await Promise.all([writer.close(), reader.close()]);
    await dropSchema(schema);
  });

  it('delivers every committed event exactly once, in position order, and no rolled-back one', async () => {
    const subscribed: StoredEvent[] = [];
    const subscription = reader.subscribe({
      subscriptionId: 'gap-safety',
      batchSize: 50,
      handler: (events) => void subscribed.push(...events),
    });

    let writing = true;
    const polled: StoredEvent[] = [];
    const pollLoop = (async () => {
      let after = -1;
      while (writing || after < (await reader.headPosition())) {
        const page = await reader.readAll({ after, maxCount: 100 });
        polled.push(...page);
        if (page.length > 0) after = page[page.length - 1]!.position;
        else await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();

    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let n = 0; n < APPENDS_PER_WRITER; n++) {
          const ids = [randomUUID(), randomUUID()];
          try {
            await writer.append(
              `writer-${w}-${n % 3}`,
              ids.map((id) => ({ id, type: 'Written', data: { w, n } })),
            );
            for (const id of ids) committed.add(id);
          } catch (error) {
            if (!(error instanceof InjectedRollback)) throw error;
            for (const id of ids) rolledBack.add(id);
          }
        }
      }),
    );
    writing = false;
    await pollLoop;
    await subscription.caughtUp();
    await subscription.stop();

    expect(committed.size).toBeGreaterThan(0);
    expect(rolledBack.size).toBeGreaterThan(0);
    for (const [name, seen] of [
      ['subscription', subscribed],
      ['readAll', polled],
    ] as const) {
      const ids = seen.map((e) => e.id);
      const positions = seen.map((e) => e.position);
      expect(
        positions.every((p, i) => i === 0 || p > positions[i - 1]!),
        `${name}: position order`,
      ).toBe(true);
      expect(
        ids.filter((id) => rolledBack.has(id)),
        `${name}: rolled-back events`,
      ).toEqual([]);
      expect(new Set(ids).size, `${name}: duplicates`).toBe(ids.length);
      expect(
        [...committed].filter((id) => !ids.includes(id)).length,
        `${name}: committed events never delivered`,
      ).toBe(0);
      expect(ids.length, `${name}: count`).toBe(committed.size);
    }
  });
});

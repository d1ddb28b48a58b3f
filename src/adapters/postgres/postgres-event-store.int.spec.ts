import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { serviceAvailable } from '../../../test/support/services.ts';
import { ConcurrencyError } from '../../kernel/errors.ts';
import type { EventSubscription, StoredEvent } from '../../event-store/event-store.ts';
import {
  describeEventStoreContract,
  type EventStoreHarness,
} from '../../event-store/testing/event-store-contract.ts';
import { createPostgresEventStore, type PostgresEventStore } from './postgres-event-store.ts';
import { POSTGRES_URL, dropSchema, randomSchema, sql, testEnvelope } from '../../../test/support/postgres.ts';

const available = await serviceAvailable('postgres');

function open(schema: string): PostgresEventStore {
  return createPostgresEventStore({ url: POSTGRES_URL, schema, poolSize: 8 });
}

describe.runIf(available)('PostgresEventStore', () => {
  describeEventStoreContract('postgres', async () => {
    const schema = randomSchema();
    let current = open(schema);
    await current.start();
    const harness: EventStoreHarness = {
      store: current,
      async reopen() {
        await current.close();
        current = open(schema);
        await current.start();
        harness.store = current;
        return current;
      },
      async cleanup() {
        await current.close();
        await dropSchema(schema);
      },
    };
    return harness;
  });

  describe('adapter specifics', () => {
    let schema: string;
    let store: PostgresEventStore;

    beforeEach(async () => {
      schema = randomSchema();
      store = open(schema);
      await store.start();
    });

    afterEach(async () => {
      await store.close();
      await dropSchema(schema);
    });

    it('migrates once when several processes start together, and again harmlessly', async () => {
      const others = Array.from({ length: 4 }, () => open(schema));
      await Promise.all(others.map((other) => other.start()));
      await Promise.all(others.map((other) => other.close()));
      await store.migrate();
      const tables = await sql<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
        [schema],
      );
      expect(tables.map((t) => t.table_name)).toEqual([
        'checkpoints',
        'events',
        'inbox',
        'outbox',
        'scheduled_messages',
        'streams',
      ]);
    });

    it('writes the unit’s messages and due-now timers to the outbox, none for a failed or duplicate unit', async () => {
      await store.commit({
        appends: [{ streamId: 's', events: [{ type: 'A', data: 1 }] }],
        messages: [testEnvelope('first')],
      });
      await expect(
        store.commit({
          appends: [{ streamId: 's', events: [{ type: 'A', data: 2 }], expectedVersion: 'no_stream' }],
          messages: [testEnvelope('lost')],
        }),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      await store.commit({ messages: [testEnvelope('dup')], inbox: { consumer: 'c', messageId: 'm' } });
      await store.commit({ messages: [testEnvelope('dup again')], inbox: { consumer: 'c', messageId: 'm' } });
      await store.commit({ schedule: [{ message: testEnvelope('due'), dueAt: Date.now() - 1 }] });
      const rows = await sql<{ subject: string }>(
        `SELECT envelope->>'subject' AS subject FROM "${schema}".outbox ORDER BY seq`,
      );
      expect(rows.map((r) => r.subject)).toEqual(['first', 'dup', 'due']);
    });

    it('releases each due timer once when several processes release concurrently (SKIP LOCKED)', async () => {
      const others = Array.from({ length: 3 }, () => open(schema));
      const now = Date.now();
      await store.commit({
        schedule: Array.from({ length: 200 }, (_, i) => ({
          message: testEnvelope(`t${i}`),
          dueAt: now + 1_000 + i,
        })),
      });
      const results = await Promise.all(
        [store, ...others].flatMap((s) => [
          s.releaseDueMessages(now + 10_000, 30),
          s.releaseDueMessages(now + 10_000, 30),
        ]),
      );
      let total = results.reduce((sum, r) => sum + r.released, 0);
      while (total < 200) total += (await store.releaseDueMessages(now + 10_000, 30)).released;
      await Promise.all(others.map((other) => other.close()));
      const rows = await sql<{ subject: string }>(
        `SELECT envelope->>'subject' AS subject FROM "${schema}".outbox`,
      );
      expect(rows).toHaveLength(200);
      expect(new Set(rows.map((r) => r.subject)).size).toBe(200);
      expect(total).toBe(200);
    });

    it('relays commits and timers of other processes through NOTIFY', async () => {
      const other = open(schema);
      await other.start();
      const heard: unknown[] = [];
      const scheduled: number[] = [];
      const gotEvents = new Promise<void>((resolve) => {
        store.onEventsCommitted((events) => {
          heard.push(...events);
          resolve();
        });
      });
      const gotTimer = new Promise<void>((resolve) => {
        store.onScheduled((dueAt) => {
          scheduled.push(dueAt);
          resolve();
        });
      });
      const correlationId = randomUUID();
      const dueAt = Date.now() + 60_000;
      await other.commit({
        appends: [{ streamId: 'remote', events: [{ type: 'Remote', data: 1, metadata: { correlationId } }] }],
        schedule: [{ message: testEnvelope('later'), dueAt }],
      });
      await Promise.all([gotEvents, gotTimer]);
      expect(heard).toEqual([{ streamId: 'remote', type: 'Remote', correlationId }]);
      expect(scheduled).toEqual([dueAt]);
      await other.close();
    });

    it('wakes a subscription for another process’s commit without waiting for the safety poll', async () => {
      const other = open(schema);
      await other.start();
      let subscription: EventSubscription | undefined;
      const received = new Promise<number>((resolve) => {
        subscription = store.subscribe({
          subscriptionId: 'live',
          handler: (events) => void (events.length > 0 && resolve(Date.now())),
        });
      });
      // Caught up on the empty log: the loop now waits for a notification (or its 1 s poll).
      await subscription!.caughtUp();
      const sent = Date.now();
      await other.append('x', [{ type: 'X', data: 1 }]);
      expect((await received) - sent).toBeLessThan(500);
      await other.close();
    });

    it('finds events whose notification was lost, by its safety poll', async () => {
      const polling = createPostgresEventStore({
        url: POSTGRES_URL,
        schema,
        poolSize: 2,
        pollIntervalMs: 50,
      });
      const received: StoredEvent[] = [];
      const subscription = polling.subscribe({
        subscriptionId: 'polling',
        handler: (events) => void received.push(...events),
      });
      await subscription.caughtUp();
      // Written behind the store's back: no commit function, so no NOTIFY and no local wake-up.
      const id = randomUUID();
      await sql(
        `INSERT INTO "${schema}".events (stream_id, version, id, type, data, time) VALUES ('unnotified', 0, $1, 'Quiet', '1', now())`,
        [id],
      );
      await vi.waitFor(() => expect(received.map((e) => e.id)).toEqual([id]), {
        timeout: 5_000,
        interval: 5,
      });
      await polling.close();
    });
  });
});

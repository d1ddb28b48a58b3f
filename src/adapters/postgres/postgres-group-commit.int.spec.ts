import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../../test/support/services.ts';
import { ConcurrencyError } from '../../kernel/errors.ts';
import type { CommitResult, CommittedEvent, UnitOfWork } from '../../event-store/event-store.ts';
import { createPostgresEventStore, type PostgresEventStore } from './postgres-event-store.ts';
import { POSTGRES_URL, dropSchema, randomSchema, sql, testEnvelope } from '../../../test/support/postgres.ts';

const available = await serviceAvailable('postgres');

/**
 * Group commit: units committed while a commit is in flight go together in one transaction. With
 * `maxConcurrentCommits: 1`, a first unit is in flight alone and every unit issued in the same tick
 * after it forms the next group. Each unit must come out as if it had been committed on its own, in
 * order.
 */
describe.runIf(available)('PostgresEventStore group commit', () => {
  let schema: string;
  let store: PostgresEventStore;

  beforeEach(async () => {
    schema = randomSchema();
    store = createPostgresEventStore({ url: POSTGRES_URL, schema, poolSize: 4, maxConcurrentCommits: 1 });
    await store.start();
  });

  afterEach(async () => {
    await store.close();
    await dropSchema(schema);
  });

  /** Commits `units` behind a first unit, so that they share one group; settles each on its own. */
  async function inOneGroup(units: UnitOfWork[]): Promise<PromiseSettledResult<CommitResult>[]> {
    const first = store.commit({
      appends: [{ streamId: `lead-${randomUUID()}`, events: [{ type: 'Lead', data: 1 }] }],
    });
    const settled = await Promise.allSettled(units.map((unit) => store.commit(unit)));
    await first;
    return settled;
  }

  it('writes a group of units in one transaction, in order, with positions in commit order', async () => {
    const streams = Array.from({ length: 20 }, () => `s-${randomUUID()}`);
    const results = await inOneGroup(
      streams.map((streamId, n) => ({
        appends: [{ streamId, events: [{ type: 'A', data: n }], expectedVersion: 'no_stream' as const }],
      })),
    );
    const positions = results.map((r) => (r.status === 'fulfilled' ? r.value.appends[0]!.lastPosition : -1));
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
    const tx = await sql<{ n: string }>(
      `SELECT count(DISTINCT tx) AS n FROM "${schema}".events WHERE stream_id = ANY($1::text[])`,
      [streams],
    );
    expect(Number(tx[0]!.n)).toBe(1);
  });

  it('lets each unit of a group succeed or fail on its own, as if committed one by one', async () => {
    const [a, b, c] = [`a-${randomUUID()}`, `b-${randomUUID()}`, `c-${randomUUID()}`];
    const consumer = `consumer-${randomUUID()}`;
    const recorded = randomUUID();
    const mark = randomUUID();
    const other = randomUUID();
    await store.commit({ appends: [{ streamId: a, events: [{ type: 'A0', data: 0 }] }] });
    await store.commit({ inbox: { consumer, messageId: recorded } });
    const heard: CommittedEvent[] = [];
    store.onEventsCommitted((events) => heard.push(...events));

    const results = await inOneGroup([
      // 0: conflicts (a is at 0), and its inbox mark is therefore free for unit 2.
      {
        appends: [{ streamId: a, events: [{ type: 'Lost', data: 1 }], expectedVersion: 'no_stream' }],
        inbox: { consumer, messageId: other },
      },
      // 1: duplicate of a mark recorded before.
      {
        appends: [{ streamId: b, events: [{ type: 'Dup', data: 1 }] }],
        inbox: { consumer, messageId: recorded },
      },
      // 2: takes the mark unit 0 did not.
      {
        appends: [{ streamId: a, events: [{ type: 'A1', data: 1 }], expectedVersion: 0 }],
        inbox: { consumer, messageId: other },
      },
      // 3: same mark as unit 2, in the same group: duplicate.
      {
        appends: [{ streamId: b, events: [{ type: 'Dup2', data: 1 }] }],
        inbox: { consumer, messageId: other },
      },
      // 4: sees unit 2's version of a.
      {
        appends: [{ streamId: a, events: [{ type: 'A2', data: 2 }], expectedVersion: 1 }],
        inbox: { consumer, messageId: mark },
      },
      // 5: the first append passes, the second conflicts: nothing of the unit is written.
      {
        appends: [
          { streamId: c, events: [{ type: 'C', data: 1 }], expectedVersion: 'no_stream' },
          { streamId: a, events: [{ type: 'Stale', data: 1 }], expectedVersion: 1 },
        ],
      },
      // 6: c is still new.
      { appends: [{ streamId: c, events: [{ type: 'C0', data: 0 }], expectedVersion: 'no_stream' }] },
    ]);

    expect(results.map((r) => r.status)).toEqual([
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const values = results.map((r): unknown => (r.status === 'fulfilled' ? r.value : (r.reason as unknown)));
    expect(values[0]).toBeInstanceOf(ConcurrencyError);
    expect(values[0]).toMatchObject({ streamId: a, expected: 'no_stream', actual: 0 });
    expect(values[1]).toEqual({ duplicate: true, appends: [] });
    expect(values[2]).toMatchObject({ duplicate: false, appends: [{ nextVersion: 1, written: true }] });
    expect(values[3]).toEqual({ duplicate: true, appends: [] });
    expect(values[4]).toMatchObject({ duplicate: false, appends: [{ nextVersion: 2, written: true }] });
    expect(values[5]).toMatchObject({ streamId: a, expected: '1', actual: 2 });
    expect(values[6]).toMatchObject({ duplicate: false, appends: [{ nextVersion: 0, written: true }] });

    expect((await store.readStream(a)).map((e) => e.type)).toEqual(['A0', 'A1', 'A2']);
    expect(await store.streamVersion(b)).toBe(-1);
    expect((await store.readStream(c)).map((e) => e.type)).toEqual(['C0']);
    expect(await store.isHandled(consumer, other)).toBe(true);
    expect(await store.isHandled(consumer, mark)).toBe(true);
    expect(heard.filter((e) => !e.streamId.startsWith('lead-')).map((e) => e.type)).toEqual([
      'A1',
      'A2',
      'C0',
    ]);
  });

  it('retries the units of a group that failed as a whole one by one: only the faulty unit fails', async () => {
    const streams = Array.from({ length: 4 }, () => `s-${randomUUID()}`);
    const results = await inOneGroup(
      streams.map((streamId, n) => ({
        // JSON with \u0000 is refused by jsonb: the whole group's call fails.
        appends: [{ streamId, events: [{ type: 'E', data: n === 2 ? 'bad \u0000' : n }] }],
        messages: [],
      })),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await Promise.all(streams.map((s) => store.streamVersion(s)))).toEqual([0, 0, -1, 0]);
    // The connection that failed is fine for the next commit.
    await store.append(streams[2]!, [{ type: 'E', data: 'good' }]);
  });

  it('stores an event id sent by two units of one group once; the second is the idempotent no-op', async () => {
    const id = randomUUID();
    const [s1, s2] = [`s-${randomUUID()}`, `s-${randomUUID()}`];
    const results = await inOneGroup([
      { appends: [{ streamId: s1, events: [{ id, type: 'Once', data: 1 }] }] },
      { appends: [{ streamId: s2, events: [{ id, type: 'Once', data: 1 }] }] },
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const [first, second] = results.map((r) => (r as PromiseFulfilledResult<CommitResult>).value.appends[0]!);
    expect(first!.written).toBe(true);
    expect(second).toEqual({
      nextVersion: first!.nextVersion,
      lastPosition: first!.lastPosition,
      written: false,
    });
    expect(await store.streamVersion(s2)).toBe(-1);
    // The group failed inside the sequencer section (unique violation): the lock was released.
    const free = await sql<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext($1), 0) AS ok, pg_advisory_unlock(hashtext($1), 0)`,
      [`${schema}:sequencer`],
    );
    expect(free[0]!.ok).toBe(true);
  });

  it('applies timers unit by unit: a later unit of the group cancels what an earlier one scheduled', async () => {
    const dueAt = Date.now() + 60_000;
    const kept = testEnvelope('kept');
    const dropped = testEnvelope('dropped');
    await inOneGroup([
      {
        schedule: [
          { message: dropped, dueAt },
          { message: kept, dueAt },
        ],
      },
      { cancelScheduled: [dropped.id] },
    ]);
    const released = await store.releaseDueMessages(dueAt + 1);
    expect(released.released).toBe(1);
    const rows = await sql<{ subject: string }>(
      `SELECT envelope->>'subject' AS subject FROM "${schema}".outbox`,
    );
    expect(rows.map((r) => r.subject)).toEqual(['kept']);
  });
});

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { serviceAvailable } from '../../../test/support/services.ts';
import { POSTGRES_URL, dropSchema, randomSchema, testEnvelope } from '../../../test/support/postgres.ts';
import { COMMIT_FUNCTION, quoteIdentifier, schemaSql, type CommitUnitsRow } from './postgres-schema.ts';

const available = await serviceAvailable('postgres');

/** A unit as the store sends it (see prepareUnit in postgres-group-commit.ts). */
interface WireUnit {
  at?: string;
  inbox?: { c: string; m: string };
  appends?: { s: string; x: string | number }[];
  events?: { a: number; id: string; type: string; data: unknown; meta?: unknown; corr?: string }[];
  messages?: { id: string; type: string; env: unknown }[];
  checkpoint?: { id: string; pos: number };
}

const ORIGIN = 'commit-units-spec';

/**
 * The commit function on its own (sql/commit-units-v1.sql), called as the store calls it:
 * `SELECT * FROM <schema>.commit_units_v1($1::jsonb)` with `{"o": origin, "units": [...]}`.
 */
describe.runIf(available)('commit_units_v1', () => {
  let schema: string;
  let s: string;
  let client: pg.Client;

  beforeEach(async () => {
    schema = randomSchema();
    s = quoteIdentifier(schema);
    client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(schemaSql(schema));
  });

  afterEach(async () => {
    await client.end();
    await dropSchema(schema);
  });

  async function call(units: WireUnit[]): Promise<CommitUnitsRow> {
    const payload = { o: ORIGIN, units: units.map((unit) => ({ at: new Date().toISOString(), ...unit })) };
    const result = await client.query<CommitUnitsRow>(`SELECT * FROM ${s}.${COMMIT_FUNCTION}($1::jsonb)`, [
      JSON.stringify(payload),
    ]);
    return result.rows[0]!;
  }

  async function rows<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    return (await client.query<R>(text, values)).rows;
  }

  function newEvent(a: number, type: string, id = randomUUID()) {
    return { a, id, type, data: { type } };
  }

  it('appends a unit: its events, stream version, inbox mark, outbox message and checkpoint, and one NOTIFY', async () => {
    const streamId = `s-${randomUUID()}`;
    const correlationId = randomUUID();
    const message = testEnvelope('out');
    const heard: string[] = [];
    client.on('notification', (notification) => heard.push(notification.payload ?? ''));
    await client.query(`LISTEN ${quoteIdentifier(`${schema}_events`)}`);
    const [first, second] = [newEvent(1, 'Placed'), newEvent(1, 'Confirmed')];

    const row = await call([
      {
        inbox: { c: 'orders', m: 'm-1' },
        appends: [{ s: streamId, x: 'no_stream' }],
        events: [{ ...first, corr: correlationId, meta: { correlationId } }, second],
        messages: [{ id: message.id, type: message.type, env: message }],
        checkpoint: { id: 'projection', pos: 7 },
      },
    ]);

    const events = await rows<{ position: string; version: string; id: string; tx: string }>(
      `SELECT position, version, id, tx FROM ${s}.events WHERE stream_id = $1 ORDER BY position`,
      [streamId],
    );
    expect(events.map((e) => [e.version, e.id])).toEqual([
      ['0', first.id],
      ['1', second.id],
    ]);
    expect(new Set(events.map((e) => e.tx)).size).toBe(1);
    expect(row).toEqual({
      outcomes: ['ok'],
      conflict_appends: [null],
      conflict_actuals: [null],
      next_versions: ['1'],
      last_positions: [events[1]!.position],
      written: [true],
      written_ids: [first.id, second.id],
    });
    expect(await rows(`SELECT version FROM ${s}.streams WHERE stream_id = $1`, [streamId])).toEqual([
      { version: '1' },
    ]);
    expect(await rows(`SELECT consumer, message_id FROM ${s}.inbox`)).toEqual([
      { consumer: 'orders', message_id: 'm-1' },
    ]);
    expect(await rows(`SELECT id, envelope FROM ${s}.outbox`)).toEqual([
      { id: message.id, envelope: message },
    ]);
    expect(await rows(`SELECT subscription_id, position FROM ${s}.checkpoints`)).toEqual([
      { subscription_id: 'projection', position: '7' },
    ]);
    await vi.waitFor(() => expect(heard).toHaveLength(1));
    expect(JSON.parse(heard[0]!)).toEqual({
      o: ORIGIN,
      e: [
        [streamId, 'Placed', correlationId],
        [streamId, 'Confirmed', null],
      ],
    });
  });

  it('keeps an expected-version conflict with its unit: the unit writes nothing, the others go on', async () => {
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    await call([{ appends: [{ s: a, x: 'no_stream' }], events: [newEvent(1, 'A0')] }]);

    const row = await call([
      // 1: moves a to version 1.
      { appends: [{ s: a, x: 0 }], events: [newEvent(1, 'A1')] },
      // 2: b would pass, but a is no longer at 0: the whole unit conflicts, its mark is not taken.
      {
        inbox: { c: 'orders', m: 'm-conflict' },
        appends: [
          { s: b, x: 'no_stream' },
          { s: a, x: 0 },
        ],
        events: [newEvent(1, 'Lost B'), newEvent(2, 'Lost A')],
        messages: [{ id: randomUUID(), type: 'tests.Lost', env: testEnvelope('lost') }],
      },
      // 3: b is still new, and a is at 1.
      {
        appends: [
          { s: b, x: 'no_stream' },
          { s: a, x: 1 },
        ],
        events: [newEvent(1, 'B0'), newEvent(2, 'A2')],
      },
    ]);

    expect(row.outcomes).toEqual(['ok', 'conflict', 'ok']);
    expect(row.conflict_appends).toEqual([null, 1, null]);
    expect(row.conflict_actuals).toEqual([null, '1', null]);
    expect(row.written).toEqual([true, false, false, true, true]);
    expect(row.next_versions.filter((_, g) => row.written[g])).toEqual(['1', '0', '2']);
    const types = await rows<{ stream_id: string; type: string }>(
      `SELECT stream_id, type FROM ${s}.events ORDER BY position`,
    );
    expect(types.map((e) => [e.stream_id, e.type])).toEqual([
      [a, 'A0'],
      [a, 'A1'],
      [b, 'B0'],
      [a, 'A2'],
    ]);
    expect(await rows(`SELECT 1 FROM ${s}.inbox`)).toEqual([]);
    expect(await rows(`SELECT 1 FROM ${s}.outbox`)).toEqual([]);
  });

  it('skips a stored event id, reporting what the original append reported, and stores a repeated id once', async () => {
    const streamId = `s-${randomUUID()}`;
    const stored = newEvent(1, 'Once');
    const original = await call([{ appends: [{ s: streamId, x: 'no_stream' }], events: [stored] }]);

    // The retry after a lost reply: its expected version is stale, yet it succeeds without writing.
    const retry = await call([{ appends: [{ s: streamId, x: 'no_stream' }], events: [stored] }]);
    expect(retry).toMatchObject({
      outcomes: ['ok'],
      next_versions: original.next_versions,
      last_positions: original.last_positions,
      written: [false],
      written_ids: null,
    });

    // A stored id next to a new one: only the new one is written, after the stream's version.
    const repeated = newEvent(1, 'Twice');
    const mixed = await call([
      { appends: [{ s: streamId, x: 0 }], events: [stored, repeated, { ...repeated, type: 'Twice again' }] },
    ]);
    expect(mixed).toMatchObject({ outcomes: ['ok'], next_versions: ['1'], written: [true] });
    expect(mixed.written_ids).toEqual([repeated.id]);
    const events = await rows<{ version: string; type: string }>(
      `SELECT version, type FROM ${s}.events WHERE stream_id = $1 ORDER BY position`,
      [streamId],
    );
    expect(events).toEqual([
      { version: '0', type: 'Once' },
      { version: '1', type: 'Twice' },
    ]);
  });

  it('fails the whole call when two units of the group write the same new id, and leaves the sequencer to the caller', async () => {
    const id = randomUUID();
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    await expect(
      call([
        { appends: [{ s: a, x: 'any' }], events: [newEvent(1, 'Same', id)] },
        { appends: [{ s: b, x: 'any' }], events: [newEvent(1, 'Same', id)] },
      ]),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await rows(`SELECT 1 FROM ${s}.events`)).toEqual([]);
    expect(await rows(`SELECT 1 FROM ${s}.streams`)).toEqual([]);
    // The failure was inside the sequencer's INSERT: this session still holds the lock.
    const unlock = `SELECT pg_advisory_unlock(hashtext($1), 0) AS released`;
    expect(await rows(unlock, [`${schema}:sequencer`])).toEqual([{ released: true }]);
  });

  it("checks an empty append against its stream's version, writing nothing", async () => {
    const [existing, missing] = [`e-${randomUUID()}`, `m-${randomUUID()}`];
    await call([{ appends: [{ s: existing, x: 'any' }], events: [newEvent(1, 'E0')] }]);

    const row = await call([
      { appends: [{ s: existing, x: 0 }] },
      { appends: [{ s: existing, x: 'stream_exists' }] },
      { appends: [{ s: missing, x: 'no_stream' }] },
      { appends: [{ s: existing, x: 5 }] },
      { appends: [{ s: existing, x: 'no_stream' }] },
      { appends: [{ s: missing, x: 'stream_exists' }] },
    ]);
    expect(row.outcomes).toEqual(['ok', 'ok', 'ok', 'conflict', 'conflict', 'conflict']);
    expect(row.conflict_appends).toEqual([null, null, null, 0, 0, 0]);
    expect(row.conflict_actuals).toEqual([null, null, null, '0', '0', '-1']);
    expect(row.next_versions.slice(0, 3)).toEqual(['0', '0', '-1']);
    expect(row.written).toEqual([false, false, false, false, false, false]);
    expect(row.written_ids).toBeNull();
    expect(await rows(`SELECT count(*)::integer AS n FROM ${s}.events`)).toEqual([{ n: 1 }]);
    expect(await rows(`SELECT stream_id FROM ${s}.streams`)).toEqual([{ stream_id: existing }]);
  });
});

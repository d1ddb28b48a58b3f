import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../adapters/sqlite/sqlite-outbox.ts';
import type { EventStore } from '../event-store/index.ts';
import {
  OPERATOR_ACTION_RECORDED,
  OPERATOR_ACTIONS_STREAM,
  readOperatorActions,
  recordOperatorAction,
} from './operator-actions.ts';

describe('operator actions (SQLite store)', () => {
  let dir: string;
  let store: EventStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-operator-actions-'));
    const database = openSqliteDatabase({ filename: path.join(dir, 'orderflow.db') });
    store = createSqliteEventStore({ database, outbox: createSqliteOutbox(database) });
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('records each action as one event and reads them back in order, within a time range', async () => {
    expect(await readOperatorActions(store)).toEqual([]);
    const times = ['2025-03-01T10:00:00.000Z', '2025-03-01T11:00:00.000Z', '2025-03-01T12:00:00.000Z'];
    for (const [i, at] of times.entries()) {
      await recordOperatorAction(store, {
        kind: i === 1 ? 'saga_retried' : 'simulator_changed',
        text: `action ${i}`,
        ...(i === 0 ? { details: { simulator: 'carrier' } } : {}),
        at: new Date(at),
      });
    }

    const events = await store.readStream(OPERATOR_ACTIONS_STREAM);
    expect(events.map((event) => event.type)).toEqual(Array(3).fill(OPERATOR_ACTION_RECORDED));
    expect(await readOperatorActions(store)).toEqual([
      { kind: 'simulator_changed', text: 'action 0', details: { simulator: 'carrier' }, at: times[0] },
      { kind: 'saga_retried', text: 'action 1', at: times[1] },
      { kind: 'simulator_changed', text: 'action 2', at: times[2] },
    ]);
    const texts = async (range: { from?: string; to?: string }) =>
      (await readOperatorActions(store, range)).map((action) => action.text);
    expect(await texts({ from: times[1] })).toEqual(['action 1', 'action 2']);
    expect(await texts({ to: times[1] })).toEqual(['action 0', 'action 1']);
    expect(await texts({ from: '2025-03-01T10:30:00Z', to: '2025-03-01T11:30:00Z' })).toEqual(['action 1']);
  });

  it('stamps an action with the current time when none is given', async () => {
    const before = Date.now();
    await recordOperatorAction(store, { kind: 'dead_letter_redriven', text: 'now' });
    const [action] = await readOperatorActions(store);
    expect(Date.parse(action!.at)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(action!.at)).toBeLessThanOrEqual(Date.now());
  });
});

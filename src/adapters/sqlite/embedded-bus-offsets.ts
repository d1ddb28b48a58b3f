import { ensureError } from '../../kernel/errors.ts';
import { DONE, type GroupRuntime, type SavedGroup } from './embedded-bus-state.ts';
import type { SqliteDatabase, WriteContext } from './sqlite-database.ts';
import type { SqliteOutbox } from './sqlite-outbox.ts';

const SCHEMA = `
CREATE TABLE bus_groups (
  name TEXT PRIMARY KEY,
  types TEXT NOT NULL,
  floor INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE bus_nacks (
  group_name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  due_at INTEGER NOT NULL,
  PRIMARY KEY (group_name, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE bus_acked (
  group_name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (group_name, seq)
) STRICT, WITHOUT ROWID;
`;

/** Most rows deleted by one prune, so that no group commit stalls on a long delete. */
const PRUNE_STEP = 20_000;

export interface BusOffsetsOptions {
  database: SqliteDatabase;
  outbox: SqliteOutbox;
  /** The groups active in this process (the transport's map). */
  groups: ReadonlyMap<string, GroupRuntime>;
  /** The transport is closed: nothing more is saved. */
  isClosed: () => boolean;
  onError: (error: Error) => void;
}

/**
 * What the embedded bus keeps durable besides the outbox, its log: each group's floor (every record
 * at or below it is acked, or not for this group) and types, the nack counts, and the records acked
 * above the floor at a graceful stop. Floors are saved lazily, joining a group commit that happens
 * anyway. Also prunes the log below the lowest floor.
 */
export interface BusOffsets {
  /** Called by the transport's start(): where pruning left the table. */
  start(): void;
  /** What a group starts from; a group never seen starts where pruning left the table. */
  load(name: string): SavedGroup;
  /** Records the group and its types durably (before any delivery: pruning then keeps what it has not passed). */
  saveTypes(name: string, typesJson: string, floor: number): Promise<void>;
  /** Saves a nack's attempt count (one small row), so that the count survives a restart. */
  recordNack(name: string, seq: number, attempts: number, dueAt: number): void;
  /** The group's floor now: the record before its first outstanding entry, or its cursor. */
  floorOf(group: GroupRuntime): number;
  /** Saves the group's floor inside a write; `ackedAboveFloor` also saves the acked records above it. */
  saveOffset(context: WriteContext, group: GroupRuntime, ackedAboveFloor: boolean): void;
  /** Saves changed floors in the next group commit; at most one such write is queued at a time. */
  schedulePersist(): void;
  /** Deletes (a step of) the records every known group has passed. */
  prune(): void;
}

export function createBusOffsets(options: BusOffsetsOptions): BusOffsets {
  const { database, outbox, groups, isClosed, onError } = options;
  database.migrate('0003_embedded_bus', SCHEMA);
  const { db } = database;
  const selectGroup = db.prepare<[string], { floor: number; types: string }>(
    'SELECT floor, types FROM bus_groups WHERE name = ?',
  );
  const upsertGroup = db.prepare<[string, string, number, string, string]>(
    `INSERT INTO bus_groups (name, types, floor, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET types = excluded.types, updated_at = excluded.updated_at`,
  );
  const updateFloor = db.prepare<[number, string, string]>(
    'UPDATE bus_groups SET floor = ?, updated_at = ? WHERE name = ?',
  );
  const selectMinFloor = db.prepare<[], { floor: number | null; groups: number }>(
    'SELECT MIN(floor) AS floor, COUNT(*) AS groups FROM bus_groups',
  );
  const selectNacks = db.prepare<[string, number], { seq: number; attempts: number }>(
    'SELECT seq, attempts FROM bus_nacks WHERE group_name = ? AND seq > ?',
  );
  const upsertNack = db.prepare<[string, number, number, number]>(
    `INSERT INTO bus_nacks (group_name, seq, attempts, due_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (group_name, seq) DO UPDATE SET attempts = excluded.attempts, due_at = excluded.due_at`,
  );
  const deleteNack = db.prepare<[string, number]>('DELETE FROM bus_nacks WHERE group_name = ? AND seq = ?');
  const deleteNacksUpTo = db.prepare<[string, number]>(
    'DELETE FROM bus_nacks WHERE group_name = ? AND seq <= ?',
  );
  const selectAcked = db.prepare<[string, number], { seq: number }>(
    'SELECT seq FROM bus_acked WHERE group_name = ? AND seq > ?',
  );
  const insertAcked = db.prepare<[string, number]>(
    'INSERT OR IGNORE INTO bus_acked (group_name, seq) VALUES (?, ?)',
  );
  const deleteAckedUpTo = db.prepare<[string, number]>(
    'DELETE FROM bus_acked WHERE group_name = ? AND seq <= ?',
  );

  /** Rows at or below this are deleted or about to be; a new group starts here. */
  let prunedUpTo = 0;
  let persistQueued = false;

  function reportError(error: unknown): void {
    // Once the database is closed under the transport (shutdown order, tests), there is nothing to save.
    if (database.closed) return;
    onError(ensureError(error));
  }

  function floorOf(group: GroupRuntime): number {
    const { outstanding } = group;
    let head = group.outstandingHead;
    while (head < outstanding.length && outstanding[head]!.state === DONE) outstanding[head++] = undefined;
    if (head > 4096 && head * 2 >= outstanding.length) {
      group.outstanding = outstanding.slice(head);
      head = 0;
    }
    group.outstandingHead = head;
    const first = group.outstanding[head];
    return first === undefined ? group.cursor : first.seq - 1;
  }

  function saveOffset(context: WriteContext, group: GroupRuntime, ackedAboveFloor: boolean): void {
    const floor = floorOf(group);
    const { name } = group;
    if (floor !== group.persistedFloor) {
      updateFloor.run(floor, new Date().toISOString(), name);
      deleteNacksUpTo.run(name, floor);
      deleteAckedUpTo.run(name, floor);
      context.afterCommit(() => {
        group.persistedFloor = Math.max(group.persistedFloor, floor);
      });
    }
    for (const seq of group.ackedNacks) if (seq > floor) deleteNack.run(name, seq);
    group.ackedNacks = [];
    if (ackedAboveFloor) {
      const { outstanding } = group;
      for (let i = group.outstandingHead; i < outstanding.length; i++) {
        const entry = outstanding[i]!;
        if (entry.state === DONE) insertAcked.run(name, entry.seq);
      }
    }
  }

  function schedulePersist(): void {
    if (persistQueued || isClosed()) return;
    persistQueued = true;
    database
      .write((context) => {
        persistQueued = false;
        for (const group of groups.values()) if (group.active) saveOffset(context, group, false);
      })
      .catch((error: unknown) => {
        persistQueued = false;
        reportError(error);
      });
  }

  return {
    start() {
      const first = outbox.readAfter(0, 1)[0];
      prunedUpTo = first === undefined ? outbox.head() : first.seq - 1;
    },

    load(name) {
      const row = selectGroup.get(name);
      const floor = row?.floor ?? prunedUpTo;
      const nackRows = new Map<number, number>();
      const skip = new Set<number>();
      if (row !== undefined) {
        for (const nack of selectNacks.all(name, floor)) nackRows.set(nack.seq, nack.attempts);
        for (const acked of selectAcked.all(name, floor)) skip.add(acked.seq);
      }
      return { floor, types: row?.types ?? '', nackRows, skip };
    },

    async saveTypes(name, typesJson, floor) {
      const time = new Date().toISOString();
      await database.write(() => upsertGroup.run(name, typesJson, floor, time, time));
    },

    recordNack(name, seq, attempts, dueAt) {
      database.write(() => upsertNack.run(name, seq, attempts, dueAt)).catch(reportError);
    },

    floorOf,
    saveOffset,
    schedulePersist,

    prune() {
      if (isClosed() || database.closed) return;
      // Idle groups whose cursor moved past records of other types save it here, not per commit.
      for (const group of groups.values()) {
        if (group.active && floorOf(group) !== group.persistedFloor) {
          schedulePersist();
          break;
        }
      }
      const row = selectMinFloor.get();
      if (row === undefined || row.groups === 0 || row.floor === null) return;
      const target = Math.min(row.floor, prunedUpTo + PRUNE_STEP);
      if (target <= prunedUpTo) return;
      prunedUpTo = target;
      outbox.prune(target).catch(reportError);
    },
  };
}

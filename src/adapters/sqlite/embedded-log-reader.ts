import type { GroupRuntime } from './embedded-bus-state.ts';
import type { Dispatcher } from './embedded-dispatch.ts';
import type { SqliteDatabase } from './sqlite-database.ts';
import type { OutboxRecord, SqliteOutbox } from './sqlite-outbox.ts';

export interface LogReaderOptions {
  database: SqliteDatabase;
  outbox: SqliteOutbox;
  /** The groups active in this process (the transport's map). */
  groups: ReadonlyMap<string, GroupRuntime>;
  dispatcher: Dispatcher;
  /** Undelivered messages a group holds in memory before it drops to reading the table. */
  maxBuffered: number;
  /** Records read from the table per history query. */
  historyChunk: number;
  /** The transport is closed: nothing more is read. */
  isClosed: () => boolean;
}

/**
 * How records reach the groups: committed outbox records come in process as objects (`onCommitted`)
 * to every group that is live; a group that starts, or fell too far behind to buffer, reads them
 * back from the table (`scheduleCatchUp`) a few chunks per turn until it has caught up, then goes live.
 */
export interface LogReader {
  /** Reads the group's history in a coming turn of the event loop (once, however often asked). */
  scheduleCatchUp(group: GroupRuntime): void;
  /** The outbox listener: records just committed, in seq order. */
  onCommitted(records: readonly OutboxRecord[]): void;
}

export function createLogReader(options: LogReaderOptions): LogReader {
  const { database, outbox, groups, dispatcher, maxBuffered, historyChunk, isClosed } = options;

  function scheduleCatchUp(group: GroupRuntime): void {
    if (group.catchUpScheduled) return;
    group.catchUpScheduled = true;
    setImmediate(() => catchUp(group));
  }

  function catchUp(group: GroupRuntime): void {
    group.catchUpScheduled = false;
    if (!group.active || group.live || isClosed() || database.closed) return;
    // A few chunks per turn, so that a long history does not starve the event loop.
    for (let chunk = 0; chunk < 5 && !group.live; chunk++) {
      if (group.buffered >= maxBuffered) break;
      const records = outbox.readAfter(group.cursor, historyChunk);
      for (const record of records) {
        group.cursor = record.seq;
        dispatcher.route(group, record);
      }
      // Reads see every commit so far, and later commits reach the listener: safe to go live.
      if (records.length < historyChunk) group.live = true;
    }
    dispatcher.dispatchAll(group);
    if (!group.live && group.buffered < maxBuffered) scheduleCatchUp(group);
  }

  function onCommitted(records: readonly OutboxRecord[]): void {
    for (const group of groups.values()) {
      if (!group.live || !group.active) continue;
      for (const record of records) {
        if (record.seq <= group.cursor) continue;
        if (group.buffered >= maxBuffered) {
          // Too far behind to buffer: drop to reading the table when the buffer drains.
          group.live = false;
          break;
        }
        group.cursor = record.seq;
        const partition = dispatcher.route(group, record);
        if (partition !== -1) dispatcher.dispatch(group, partition);
      }
    }
  }

  return { scheduleCatchUp, onCommitted };
}

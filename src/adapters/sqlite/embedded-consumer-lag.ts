import { DONE, type GroupRuntime } from './embedded-bus-state.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

export interface ConsumerLagOptions {
  database: SqliteDatabase;
  /** The groups active in this process (the transport's map). */
  groups: ReadonlyMap<string, GroupRuntime>;
}

/**
 * Per group ever saved in `bus_groups`, the records routed to it (its types, or redrives aimed at
 * it) and not acked. A stopped group: the log's records above its saved floor, less those acked
 * above it at its last graceful stop. An active group: its entries in memory not done, plus the log's
 * records it has not read yet (a group catching up). Counts use the outbox's seq index from the floor
 * or cursor, so the cost is the backlog's size, nothing when groups keep up.
 */
export function createConsumerLag(options: ConsumerLagOptions): () => Record<string, number> {
  const { database, groups } = options;
  const { db } = database;
  const selectSaved = db.prepare<[], { name: string; lag: number }>(
    `SELECT g.name,
       (SELECT COUNT(*) FROM outbox o WHERE o.seq > g.floor AND (o.target_group = g.name
          OR (o.target_group IS NULL AND o.type IN (SELECT value FROM json_each(g.types)))))
       - (SELECT COUNT(*) FROM bus_acked a WHERE a.group_name = g.name AND a.seq > g.floor) AS lag
     FROM bus_groups g`,
  );
  const selectUnread = db.prepare<[number, string, string], { n: number }>(
    `SELECT COUNT(*) AS n FROM outbox o WHERE o.seq > ? AND (o.target_group = ?
       OR (o.target_group IS NULL AND o.type IN (SELECT value FROM json_each(?))))`,
  );

  function activeLag(group: GroupRuntime): number {
    let lag = 0;
    const { outstanding } = group;
    for (let i = group.outstandingHead; i < outstanding.length; i++) {
      if (outstanding[i] !== undefined && outstanding[i]!.state !== DONE) lag++;
    }
    const types = JSON.stringify([...group.types]);
    lag += selectUnread.get(group.cursor, group.name, types)?.n ?? 0;
    // Acked at the last graceful stop and not read again yet: not owed.
    for (const seq of group.skip) if (seq > group.cursor) lag--;
    return lag;
  }

  return () => {
    if (database.closed) return {};
    const lag: Record<string, number> = {};
    for (const row of selectSaved.all()) lag[row.name] = Math.max(0, row.lag);
    for (const group of groups.values()) if (group.active) lag[group.name] = Math.max(0, activeLag(group));
    return lag;
  };
}

import type { SqliteDatabase, WriteContext } from './sqlite-database.ts';
import type { OutboxRecord, SqliteOutbox } from './sqlite-outbox.ts';
import { partitionOf, type Envelope } from '../../kernel/envelope.ts';
import type {
  Delivery,
  Transport,
  TransportSubscribeOptions,
  TransportSubscription,
} from '../../messaging/transport.ts';

/**
 * The embedded bus: one process, one SQLite file. The outbox table is its log, so a message is
 * durable in the bus the moment the transaction that produced it commits, and no relay copies it.
 *
 * - Committed outbox records reach the transport in process as objects (`outbox.onCommitted`);
 *   after a restart, or while a group is too far behind to buffer, it reads them back with
 *   `outbox.readAfter`.
 * - Each group keeps one durable offset, its floor: every record at or below it is acked (or not
 *   for this group). Floors are saved lazily, joining a group commit that happens anyway, and on a
 *   graceful stop, together with the acked records above the floor. After a crash a group re-reads
 *   from its floor, so a few acked messages come again; consumers dedupe them by their inbox.
 * - Nack counts are saved on nack (one small row) so the attempt count survives a restart; after a
 *   restart a nacked message comes back at its place in its partition (the restart stands in for its
 *   delay), which lets the consumer keep its key's order.
 * - Rows every known group has passed are pruned every `pruneIntervalMs`.
 */
export interface EmbeddedTransportOptions {
  /** The database the outbox lives in; bus offsets and nack counts are kept there too. */
  database: SqliteDatabase;
  /** The outbox table, which is the bus's log. */
  outbox: SqliteOutbox;
  /**
   * Partitions per group. Fixed for the life of a deployment: keys map to partitions by it.
   * @default 16
   */
  partitions?: number;
  /**
   * How often outbox rows that every known group has passed are deleted (0 = never).
   * @default 1000
   */
  pruneIntervalMs?: number;
  /**
   * Undelivered messages a group holds in memory. Beyond it the group stops taking committed records
   * in process and reads them from the table once it has caught up (bounded memory under a backlog).
   * @default 20000
   */
  maxBuffered?: number;
  /**
   * Clock for nack due times, in milliseconds since the epoch.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Hears of failed background writes (offset saves, nack records, pruning); they are retried.
   * @default process.emitWarning
   */
  onError?: (error: Error) => void;
}

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

/** Records read from the table per history query. */
const HISTORY_CHUNK = 1_000;
/** Most rows deleted by one prune, so that no group commit stalls on a long delete. */
const PRUNE_STEP = 20_000;
const DEFAULT_MAX_IN_FLIGHT = 256;

const QUEUED = 0;
const DELIVERED = 1;
const DELAYED = 2;
const DONE = 3;
type EntryState = typeof QUEUED | typeof DELIVERED | typeof DELAYED | typeof DONE;

/** One outbox record routed to one group. */
interface Entry {
  readonly seq: number;
  readonly message: Envelope;
  readonly partition: number;
  /** Deliveries so far (the last delivery's deliveryCount). */
  attempts: number;
  /** Bumped on each delivery; only the delivery holding the current token may ack or nack. */
  token: number;
  state: EntryState;
  /** Has a nack row in the database. */
  nacked: boolean;
}

interface PartitionRuntime {
  /** Entries waiting for delivery, in seq order, from `head`. */
  queue: (Entry | undefined)[];
  head: number;
  /** Delivered or waiting for a nack redelivery, not yet acked. */
  inFlight: number;
  /** The copy of the group that gets this partition's deliveries while any is in flight. */
  owner: SubscriptionRuntime | null;
  dispatching: boolean;
  again: boolean;
}

interface SubscriptionRuntime {
  readonly group: GroupRuntime;
  readonly types: readonly string[];
  readonly maxInFlight: number;
  readonly onDelivery: (delivery: Delivery) => void;
  active: boolean;
}

/** A group active in this process. Replaced by a fresh object each time the group is activated. */
interface GroupRuntime {
  readonly name: string;
  types: Set<string>;
  /** The types as saved in `bus_groups` (sorted JSON), to save them only when they change. */
  savedTypes: string;
  readonly partitions: PartitionRuntime[];
  readonly subscriptions: SubscriptionRuntime[];
  active: boolean;
  /** Highest seq taken from the log. */
  cursor: number;
  /** Follows commits in process; false while reading history. */
  live: boolean;
  catchUpScheduled: boolean;
  /** Entries queued and not delivered, over all partitions. */
  buffered: number;
  /** Routed entries not known to be done, in seq order from `outstandingHead` (floor bookkeeping). */
  outstanding: (Entry | undefined)[];
  outstandingHead: number;
  persistedFloor: number;
  /** Acked above the floor at the last graceful stop: not delivered again. */
  skip: Set<number>;
  /** Nack counts saved before the last stop, by seq. */
  nackRows: Map<number, number>;
  /** Seqs whose nack rows can go. */
  ackedNacks: number[];
}

interface Redelivery {
  dueAt: number;
  group: GroupRuntime;
  entry: Entry;
  token: number;
}

class EmbeddedDelivery implements Delivery {
  readonly message: Envelope;
  readonly partition: number;
  readonly deliveryCount: number;

  constructor(
    private readonly bus: DeliveryCallbacks,
    private readonly group: GroupRuntime,
    private readonly entry: Entry,
    private readonly token: number,
  ) {
    this.message = entry.message;
    this.partition = entry.partition;
    this.deliveryCount = entry.attempts;
  }

  ack(): void {
    this.bus.ack(this.group, this.entry, this.token);
  }

  nack(delayMs: number): void {
    this.bus.nack(this.group, this.entry, this.token, delayMs);
  }
}

interface DeliveryCallbacks {
  ack(group: GroupRuntime, entry: Entry, token: number): void;
  nack(group: GroupRuntime, entry: Entry, token: number, delayMs: number): void;
}

export function createEmbeddedTransport(options: EmbeddedTransportOptions): Transport {
  const { database, outbox } = options;
  const partitions = options.partitions ?? 16;
  const pruneIntervalMs = options.pruneIntervalMs ?? 1_000;
  const maxBuffered = options.maxBuffered ?? 20_000;
  // A group that fell behind reads history again once its buffer has drained to a quarter.
  const resumeBuffered = Math.floor(maxBuffered / 4);
  const historyChunk = Math.min(HISTORY_CHUNK, maxBuffered);
  const now = options.now ?? Date.now;
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
  const problems: string[] = [];
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 4096) {
    problems.push(`partitions must be an integer from 1 to 4096 (got ${String(partitions)})`);
  }
  if (!Number.isFinite(pruneIntervalMs) || pruneIntervalMs < 0) {
    problems.push(`pruneIntervalMs must be a number >= 0 (got ${String(pruneIntervalMs)})`);
  }
  if (!Number.isInteger(maxBuffered) || maxBuffered < 1) {
    problems.push(`maxBuffered must be an integer >= 1 (got ${String(maxBuffered)})`);
  }
  if (problems.length > 0) throw new Error(`invalid embedded transport options: ${problems.join('; ')}`);

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

  const groups = new Map<string, GroupRuntime>();
  const deactivating = new Map<string, Promise<void>>();
  /** Pending nack redeliveries, a binary min-heap on `dueAt`; one timer serves the earliest. */
  const redeliveries: Redelivery[] = [];
  let redeliveryTimer: NodeJS.Timeout | undefined;
  let redeliveryTimerDueAt = Number.POSITIVE_INFINITY;
  let pruneTimer: NodeJS.Timeout | undefined;
  /** Rows at or below this are deleted or about to be; a new group starts here. */
  let prunedUpTo = 0;
  let persistQueued = false;
  let started = false;
  let closed = false;
  let unsubscribeOutbox: (() => void) | undefined;

  // ---- routing and dispatch ----

  /** Queues the record for the group if it is the group's; returns its partition, or -1. */
  function route(group: GroupRuntime, record: OutboxRecord): number {
    const { message, targetGroup } = record;
    if (targetGroup !== null ? targetGroup !== group.name : !group.types.has(message.type)) return -1;
    if (group.skip.size > 0 && group.skip.delete(record.seq)) return -1;
    const partition = partitionOf(message.partitionkey, partitions);
    const entry: Entry = {
      seq: record.seq,
      message,
      partition,
      attempts: 0,
      token: 0,
      state: QUEUED,
      nacked: false,
    };
    if (group.nackRows.size > 0) {
      const attempts = group.nackRows.get(record.seq);
      if (attempts !== undefined) {
        group.nackRows.delete(record.seq);
        entry.attempts = attempts;
        entry.nacked = true;
      }
    }
    group.outstanding.push(entry);
    group.partitions[partition]!.queue.push(entry);
    group.buffered++;
    return partition;
  }

  function ownerOf(group: GroupRuntime, index: number): SubscriptionRuntime | null {
    const partition = group.partitions[index]!;
    if (partition.owner !== null && partition.owner.active) return partition.owner;
    const { subscriptions } = group;
    partition.owner = subscriptions.length === 0 ? null : subscriptions[index % subscriptions.length]!;
    return partition.owner;
  }

  function dispatch(group: GroupRuntime, index: number): void {
    const partition = group.partitions[index]!;
    // Acks made inside onDelivery come back here; the outer loop carries on instead of recursing.
    if (partition.dispatching) {
      partition.again = true;
      return;
    }
    partition.dispatching = true;
    try {
      do {
        partition.again = false;
        while (partition.head < partition.queue.length && group.active) {
          const owner = ownerOf(group, index);
          if (owner === null || partition.inFlight >= owner.maxInFlight) break;
          const entry = partition.queue[partition.head]!;
          partition.queue[partition.head++] = undefined;
          group.buffered--;
          partition.inFlight++;
          deliver(group, entry, owner);
        }
      } while (partition.again);
      if (partition.head > 4096 && partition.head * 2 >= partition.queue.length) {
        partition.queue = partition.queue.slice(partition.head);
        partition.head = 0;
      }
    } finally {
      partition.dispatching = false;
    }
    if (!group.live && !group.catchUpScheduled && group.active && group.buffered <= resumeBuffered) {
      scheduleCatchUp(group);
    }
  }

  function dispatchAll(group: GroupRuntime): void {
    for (let index = 0; index < partitions; index++) dispatch(group, index);
  }

  function deliver(group: GroupRuntime, entry: Entry, owner: SubscriptionRuntime): void {
    entry.state = DELIVERED;
    entry.attempts++;
    entry.token++;
    const delivery = new EmbeddedDelivery(callbacks, group, entry, entry.token);
    try {
      owner.onDelivery(delivery);
    } catch (error) {
      // onDelivery must not throw; if it does, the message must not be stuck unacked forever.
      onError(asError(error));
      delivery.nack(1_000);
    }
  }

  const callbacks: DeliveryCallbacks = {
    ack(group, entry, token) {
      if (entry.token !== token || entry.state !== DELIVERED || !group.active) return;
      entry.state = DONE;
      const partition = group.partitions[entry.partition]!;
      partition.inFlight--;
      // An idle partition may go to another copy of the group.
      if (partition.inFlight === 0) partition.owner = null;
      if (entry.nacked) group.ackedNacks.push(entry.seq);
      schedulePersist();
      dispatch(group, entry.partition);
    },
    nack(group, entry, token, delayMs) {
      if (entry.token !== token || entry.state !== DELIVERED || !group.active) return;
      entry.state = DELAYED;
      entry.nacked = true;
      const dueAt = now() + (Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0);
      const { name } = group;
      const attempts = entry.attempts;
      database.write(() => upsertNack.run(name, entry.seq, attempts, dueAt)).catch(reportError);
      pushRedelivery({ dueAt, group, entry, token });
    },
  };

  // ---- nack redeliveries: one heap, one timer ----

  function pushRedelivery(item: Redelivery): void {
    redeliveries.push(item);
    let i = redeliveries.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (redeliveries[parent]!.dueAt <= item.dueAt) break;
      redeliveries[i] = redeliveries[parent]!;
      i = parent;
    }
    redeliveries[i] = item;
    armRedeliveryTimer();
  }

  function popRedelivery(): Redelivery | undefined {
    const top = redeliveries[0];
    const last = redeliveries.pop();
    if (top === undefined || last === undefined || redeliveries.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= redeliveries.length) break;
      const right = left + 1;
      const child =
        right < redeliveries.length && redeliveries[right]!.dueAt < redeliveries[left]!.dueAt ? right : left;
      if (redeliveries[child]!.dueAt >= last.dueAt) break;
      redeliveries[i] = redeliveries[child]!;
      i = child;
    }
    redeliveries[i] = last;
    return top;
  }

  function armRedeliveryTimer(): void {
    const next = redeliveries[0];
    if (next === undefined || closed) return;
    if (redeliveryTimer !== undefined && redeliveryTimerDueAt <= next.dueAt) return;
    if (redeliveryTimer !== undefined) clearTimeout(redeliveryTimer);
    redeliveryTimerDueAt = next.dueAt;
    redeliveryTimer = setTimeout(fireRedeliveries, Math.max(0, next.dueAt - now()));
    redeliveryTimer.unref();
  }

  function fireRedeliveries(): void {
    redeliveryTimer = undefined;
    redeliveryTimerDueAt = Number.POSITIVE_INFINITY;
    const time = now();
    while (redeliveries.length > 0 && redeliveries[0]!.dueAt <= time) {
      const { group, entry, token } = popRedelivery()!;
      if (!group.active || entry.state !== DELAYED || entry.token !== token) continue;
      const owner = ownerOf(group, entry.partition);
      // Without a copy to take it, the group is being stopped; the floor keeps the message.
      if (owner !== null) deliver(group, entry, owner);
    }
    armRedeliveryTimer();
  }

  // ---- history and live records ----

  function scheduleCatchUp(group: GroupRuntime): void {
    if (group.catchUpScheduled) return;
    group.catchUpScheduled = true;
    setImmediate(() => catchUp(group));
  }

  function catchUp(group: GroupRuntime): void {
    group.catchUpScheduled = false;
    if (!group.active || group.live || closed || database.closed) return;
    // A few chunks per turn, so that a long history does not starve the event loop.
    for (let chunk = 0; chunk < 5 && !group.live; chunk++) {
      if (group.buffered >= maxBuffered) break;
      const records = outbox.readAfter(group.cursor, historyChunk);
      for (const record of records) {
        group.cursor = record.seq;
        route(group, record);
      }
      // Reads see every commit so far, and later commits reach the listener: safe to go live.
      if (records.length < historyChunk) group.live = true;
    }
    dispatchAll(group);
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
        const partition = route(group, record);
        if (partition !== -1) dispatch(group, partition);
      }
    }
  }

  // ---- offsets ----

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

  /** Saves changed floors in the next group commit; at most one such write is queued at a time. */
  function schedulePersist(): void {
    if (persistQueued || closed) return;
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

  function reportError(error: unknown): void {
    // Once the database is closed under the transport (shutdown order, tests), there is nothing to save.
    if (database.closed) return;
    onError(asError(error));
  }

  // ---- pruning ----

  function prune(): void {
    if (closed || database.closed) return;
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
  }

  // ---- groups and subscriptions ----

  function activate(name: string): GroupRuntime {
    const row = selectGroup.get(name);
    const floor = row?.floor ?? prunedUpTo;
    const nackRows = new Map<number, number>();
    const skip = new Set<number>();
    if (row !== undefined) {
      for (const nack of selectNacks.all(name, floor)) nackRows.set(nack.seq, nack.attempts);
      for (const acked of selectAcked.all(name, floor)) skip.add(acked.seq);
    }
    const group: GroupRuntime = {
      name,
      types: new Set(),
      savedTypes: row?.types ?? '',
      partitions: Array.from({ length: partitions }, () => ({
        queue: [],
        head: 0,
        inFlight: 0,
        owner: null,
        dispatching: false,
        again: false,
      })),
      subscriptions: [],
      active: true,
      cursor: floor,
      live: false,
      catchUpScheduled: false,
      buffered: 0,
      outstanding: [],
      outstandingHead: 0,
      persistedFloor: floor,
      skip,
      nackRows,
      ackedNacks: [],
    };
    return group;
  }

  /** Takes back the deliveries a stopped copy holds, to hand them to the remaining copies in order. */
  function requeueFrom(group: GroupRuntime, subscription: SubscriptionRuntime): void {
    const taken: Entry[][] = Array.from({ length: partitions }, () => []);
    const { outstanding } = group;
    for (let i = group.outstandingHead; i < outstanding.length; i++) {
      const entry = outstanding[i]!;
      if (entry.state === DELIVERED && group.partitions[entry.partition]!.owner === subscription) {
        taken[entry.partition]!.push(entry);
      }
    }
    group.partitions.forEach((partition, index) => {
      if (partition.owner !== subscription) return;
      const entries = taken[index]!;
      for (const entry of entries) {
        entry.state = QUEUED;
        entry.token++;
      }
      // Delivered entries all precede the queued ones: dispatch takes the queue in seq order.
      partition.queue = [...entries, ...partition.queue.slice(partition.head)];
      partition.head = 0;
      partition.inFlight -= entries.length;
      group.buffered += entries.length;
      partition.owner = null;
    });
  }

  async function deactivate(group: GroupRuntime): Promise<void> {
    if (!group.active) return;
    group.active = false;
    if (groups.get(group.name) === group) groups.delete(group.name);
    if (database.closed) return;
    const saved = database.write((context) => saveOffset(context, group, true));
    // A new subscription of this group waits for the save, so that it starts from it.
    deactivating.set(group.name, saved);
    try {
      await saved;
    } finally {
      if (deactivating.get(group.name) === saved) deactivating.delete(group.name);
    }
  }

  async function stopSubscription(subscription: SubscriptionRuntime): Promise<void> {
    if (!subscription.active) return;
    subscription.active = false;
    const { group } = subscription;
    const index = group.subscriptions.indexOf(subscription);
    if (index !== -1) group.subscriptions.splice(index, 1);
    if (group.subscriptions.length === 0) {
      await deactivate(group);
      return;
    }
    group.types = new Set(group.subscriptions.flatMap((s) => s.types));
    requeueFrom(group, subscription);
    dispatchAll(group);
  }

  return {
    partitions,

    async start() {
      if (closed) throw new Error('the embedded transport is closed');
      if (started) return;
      started = true;
      unsubscribeOutbox = outbox.onCommitted(onCommitted);
      const first = outbox.readAfter(0, 1)[0];
      prunedUpTo = first === undefined ? outbox.head() : first.seq - 1;
      if (pruneIntervalMs > 0) {
        pruneTimer = setInterval(prune, pruneIntervalMs);
        pruneTimer.unref();
      }
    },

    async publish(messages) {
      if (messages.length === 0) return;
      await database.write((context) => outbox.insert(context, messages));
    },

    async redeliver(group, message) {
      await database.write((context) => outbox.insert(context, [message], group));
    },

    async subscribe(subscribeOptions: TransportSubscribeOptions): Promise<TransportSubscription> {
      if (!started || closed) throw new Error('the embedded transport is not running: call start() first');
      const { group: name, types } = subscribeOptions;
      const maxInFlight = subscribeOptions.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
      if (name.length === 0) throw new Error('subscribe: group must not be empty');
      if (types.length === 0) throw new Error(`subscribe: group ${name} needs at least one message type`);
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
        throw new Error(`subscribe: maxInFlight must be an integer >= 1 (got ${String(maxInFlight)})`);
      }
      await deactivating.get(name)?.catch(() => undefined);
      if (closed) throw new Error('the embedded transport is closed');
      let group = groups.get(name);
      if (group === undefined) {
        group = activate(name);
        groups.set(name, group);
      }
      const subscription: SubscriptionRuntime = {
        group,
        types: [...types],
        maxInFlight,
        onDelivery: subscribeOptions.onDelivery,
        active: true,
      };
      group.subscriptions.push(subscription);
      group.types = new Set(group.subscriptions.flatMap((s) => s.types));
      const typesJson = JSON.stringify([...group.types].sort());
      if (typesJson !== group.savedTypes) {
        // Recorded durably before any delivery: from now on pruning keeps what this group has not passed.
        group.savedTypes = typesJson;
        const floor = group.persistedFloor;
        const time = new Date().toISOString();
        await database.write(() => upsertGroup.run(name, typesJson, floor, time, time));
      }
      if (group.active) {
        if (group.live) dispatchAll(group);
        else scheduleCatchUp(group);
      }
      return {
        group: name,
        stop: () => stopSubscription(subscription),
      };
    },

    async close() {
      if (closed) return;
      const active = [...groups.values()];
      for (const group of active) {
        for (const subscription of group.subscriptions) subscription.active = false;
        group.subscriptions.length = 0;
      }
      await Promise.all(active.map((group) => deactivate(group)));
      closed = true;
      unsubscribeOutbox?.();
      if (pruneTimer !== undefined) clearInterval(pruneTimer);
      if (redeliveryTimer !== undefined) clearTimeout(redeliveryTimer);
      redeliveries.length = 0;
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

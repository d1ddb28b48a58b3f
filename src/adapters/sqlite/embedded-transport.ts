import { AppError, ERROR_CODES, InvalidOptionsError } from '../../kernel/errors.ts';
import type {
  Transport,
  TransportSubscribeOptions,
  TransportSubscription,
} from '../../messaging/transport.ts';
import { createAcks } from './embedded-acks.ts';
import { createBusOffsets } from './embedded-bus-offsets.ts';
import { createConsumerLag } from './embedded-consumer-lag.ts';
import { newGroupRuntime, type GroupRuntime, type SubscriptionRuntime } from './embedded-bus-state.ts';
import { createDispatcher, type DeliveryCallbacks } from './embedded-dispatch.ts';
import { createLogReader } from './embedded-log-reader.ts';
import type { SqliteDatabase } from './sqlite-database.ts';
import type { SqliteOutbox } from './sqlite-outbox.ts';

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
 *
 * The parts, one file each: embedded-dispatch.ts (routing to partitions, delivery to the copies of
 * a group), embedded-acks.ts (acks, nacks and their redelivery timer), embedded-log-reader.ts (live
 * records and history), embedded-bus-offsets.ts (floors, nack counts, pruning: the bus's tables),
 * embedded-bus-state.ts (the in-memory state they share), embedded-consumer-lag.ts (what each
 * group has not acked); this file holds the groups' lifecycle.
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

/** Records read from the table per history query. */
const HISTORY_CHUNK = 1_000;
const DEFAULT_MAX_IN_FLIGHT = 256;

export function createEmbeddedTransport(options: EmbeddedTransportOptions): Transport {
  const { database, outbox } = options;
  const partitions = options.partitions ?? 16;
  const pruneIntervalMs = options.pruneIntervalMs ?? 1_000;
  const maxBuffered = options.maxBuffered ?? 20_000;
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
  if (problems.length > 0) {
    throw new InvalidOptionsError(problems, { subject: 'embedded transport options' });
  }

  const groups = new Map<string, GroupRuntime>();
  const deactivating = new Map<string, Promise<void>>();
  let pruneTimer: NodeJS.Timeout | undefined;
  let started = false;
  let closed = false;
  let unsubscribeOutbox: (() => void) | undefined;
  const isClosed = () => closed;

  const offsets = createBusOffsets({ database, outbox, groups, isClosed, onError });
  const readConsumerLag = createConsumerLag({ database, groups });
  // Deliveries settle through the acks, which dispatch again: the two refer to each other.
  const callbacks: DeliveryCallbacks = {
    ack: (group, entry, token) => acks.ack(group, entry, token),
    nack: (group, entry, token, delayMs) => acks.nack(group, entry, token, delayMs),
  };
  const dispatcher = createDispatcher({
    partitions,
    // A group that fell behind reads history again once its buffer has drained to a quarter.
    resumeBuffered: Math.floor(maxBuffered / 4),
    callbacks,
    onRoom: (group) => logReader.scheduleCatchUp(group),
    onError,
  });
  const acks = createAcks({ dispatcher, offsets, now });
  const logReader = createLogReader({
    database,
    outbox,
    groups,
    dispatcher,
    maxBuffered,
    historyChunk: Math.min(HISTORY_CHUNK, maxBuffered),
    isClosed,
  });

  async function deactivate(group: GroupRuntime): Promise<void> {
    if (!group.active) return;
    group.active = false;
    if (groups.get(group.name) === group) groups.delete(group.name);
    if (database.closed) return;
    const saved = database.write((context) => offsets.saveOffset(context, group, true));
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
    dispatcher.requeueFrom(group, subscription);
    dispatcher.dispatchAll(group);
  }

  function closedError(): AppError {
    return new AppError(ERROR_CODES.INVALID_STATE, 'the embedded transport is closed');
  }

  return {
    partitions,

    async start() {
      if (closed) throw closedError();
      if (started) return;
      started = true;
      unsubscribeOutbox = outbox.onCommitted((records) => logReader.onCommitted(records));
      offsets.start();
      if (pruneIntervalMs > 0) {
        pruneTimer = setInterval(() => offsets.prune(), pruneIntervalMs);
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
      if (!started || closed) {
        throw new AppError(
          ERROR_CODES.INVALID_STATE,
          'the embedded transport is not running: call start() first',
        );
      }
      const { group: name, types } = subscribeOptions;
      const maxInFlight = subscribeOptions.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
      if (name.length === 0) throw InvalidOptionsError.format('group', 'must not be empty');
      if (types.length === 0) {
        throw InvalidOptionsError.format('types', `must name at least one message type (group ${name})`);
      }
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
        throw InvalidOptionsError.format(
          'maxInFlight',
          `must be an integer >= 1 (got ${String(maxInFlight)})`,
        );
      }
      await deactivating.get(name)?.catch(() => undefined);
      if (closed) throw closedError();
      let group = groups.get(name);
      if (group === undefined) {
        group = newGroupRuntime(name, partitions, offsets.load(name));
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
        await offsets.saveTypes(name, typesJson, group.persistedFloor);
      }
      if (group.active) {
        if (group.live) dispatcher.dispatchAll(group);
        else logReader.scheduleCatchUp(group);
      }
      return {
        group: name,
        stop: () => stopSubscription(subscription),
      };
    },

    async consumerLag() {
      return readConsumerLag();
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
      acks.close();
    },
  };
}

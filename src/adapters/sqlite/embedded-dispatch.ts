import { partitionOf, type Envelope } from '../../kernel/envelope.ts';
import { ensureError } from '../../kernel/errors.ts';
import type { Delivery } from '../../messaging/transport.ts';
import {
  DELIVERED,
  QUEUED,
  type Entry,
  type GroupRuntime,
  type SubscriptionRuntime,
} from './embedded-bus-state.ts';
import type { OutboxRecord } from './sqlite-outbox.ts';

/** What a delivery's ack and nack do (embedded-acks.ts). */
export interface DeliveryCallbacks {
  ack(group: GroupRuntime, entry: Entry, token: number): void;
  nack(group: GroupRuntime, entry: Entry, token: number, delayMs: number): void;
}

export interface DispatcherOptions {
  partitions: number;
  /** A group reading history reads more once its buffer has drained to this. */
  resumeBuffered: number;
  callbacks: DeliveryCallbacks;
  /** A group that is reading history has room again: read more (embedded-log-reader.ts). */
  onRoom: (group: GroupRuntime) => void;
  onError: (error: Error) => void;
}

/**
 * Partition dispatch: routes a group's records to its partitions and hands each partition's entries,
 * in seq order, to the one copy of the group that owns the partition while anything of it is in
 * flight, at most `maxInFlight` at a time.
 */
export interface Dispatcher {
  /** Queues the record for the group if it is the group's; returns its partition, or -1. */
  route(group: GroupRuntime, record: OutboxRecord): number;
  /** Delivers what the partition's owner may take now. */
  dispatch(group: GroupRuntime, index: number): void;
  dispatchAll(group: GroupRuntime): void;
  /** The copy of the group that gets this partition's deliveries, or null when it has none. */
  ownerOf(group: GroupRuntime, index: number): SubscriptionRuntime | null;
  /** Hands one entry to a copy of the group (a first delivery, or a redelivery after a nack). */
  deliver(group: GroupRuntime, entry: Entry, owner: SubscriptionRuntime): void;
  /** Takes back the deliveries a stopped copy holds, to hand them to the remaining copies in order. */
  requeueFrom(group: GroupRuntime, subscription: SubscriptionRuntime): void;
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { partitions, resumeBuffered, callbacks, onRoom, onError } = options;

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
      onRoom(group);
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
      onError(ensureError(error));
      delivery.nack(1_000);
    }
  }

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

  return { route, dispatch, dispatchAll, ownerOf, deliver, requeueFrom };
}

class EmbeddedDelivery implements Delivery {
  readonly message: Envelope;
  readonly partition: number;
  readonly deliveryCount: number;

  constructor(
    private readonly callbacks: DeliveryCallbacks,
    private readonly group: GroupRuntime,
    private readonly entry: Entry,
    private readonly token: number,
  ) {
    this.message = entry.message;
    this.partition = entry.partition;
    this.deliveryCount = entry.attempts;
  }

  ack(): void {
    this.callbacks.ack(this.group, this.entry, this.token);
  }

  nack(delayMs: number): void {
    this.callbacks.nack(this.group, this.entry, this.token, delayMs);
  }
}

import type { Envelope } from '../../kernel/envelope.ts';
import type { Delivery } from '../../messaging/transport.ts';

/**
 * The in-memory state of the embedded bus (embedded-transport.ts), shared by its parts: partition
 * dispatch (embedded-dispatch.ts), acks and redeliveries (embedded-acks.ts), the log reader
 * (embedded-log-reader.ts) and the durable offsets (embedded-bus-offsets.ts).
 */

export const QUEUED = 0;
export const DELIVERED = 1;
export const DELAYED = 2;
export const DONE = 3;
export type EntryState = typeof QUEUED | typeof DELIVERED | typeof DELAYED | typeof DONE;

/** One outbox record routed to one group. */
export interface Entry {
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

export interface PartitionRuntime {
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

export interface SubscriptionRuntime {
  readonly group: GroupRuntime;
  readonly types: readonly string[];
  readonly maxInFlight: number;
  readonly onDelivery: (delivery: Delivery) => void;
  active: boolean;
}

/** A group active in this process. Replaced by a fresh object each time the group is activated. */
export interface GroupRuntime {
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

/** What a group starts from: its saved floor, and what was saved above it. */
export interface SavedGroup {
  floor: number;
  /** The saved types (sorted JSON), '' for a group never saved. */
  types: string;
  nackRows: Map<number, number>;
  skip: Set<number>;
}

export function newGroupRuntime(name: string, partitions: number, saved: SavedGroup): GroupRuntime {
  return {
    name,
    types: new Set(),
    savedTypes: saved.types,
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
    cursor: saved.floor,
    live: false,
    catchUpScheduled: false,
    buffered: 0,
    outstanding: [],
    outstandingHead: 0,
    persistedFloor: saved.floor,
    skip: saved.skip,
    nackRows: saved.nackRows,
    ackedNacks: [],
  };
}

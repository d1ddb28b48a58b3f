import type { Envelope } from '../kernel/envelope.ts';

/**
 * The message bus port: the primitives an adapter provides. Policy (inbox dedupe, retries with
 * backoff, dead letters, the outbox relay) lives once in the core (`consumer.ts`, `outbox/`), on top
 * of these primitives, so every adapter behaves the same.
 *
 * Semantics every adapter keeps (proved by `testing/transport-contract.ts`):
 * - Delivery is at least once. A message is delivered again until it is acked: after `nack(delay)`,
 *   after the consumer process restarts, or (brokers) after an ack timeout.
 * - Routing: a message goes to every group subscribed to its `type`. A command type has one
 *   handling group; an event type has as many as want it. Copies of a group (processes or
 *   in-process subscriptions with the same name) share its messages: each message goes to one copy.
 *   Adapters for several processes share by partition (one copy at a time per partition), so a
 *   key's messages reach one copy at a time.
 * - Groups are durable: a group that was subscribed once receives what was published while it was
 *   away. A group subscribing for the first time receives every message still retained.
 * - Ordering: messages are spread over `partitions` partitions by `partitionOf(partitionkey)`.
 *   Within a partition, a group receives messages in publish order; a redelivery after `nack` comes
 *   back after its delay, possibly behind later messages of the same partition, so keeping one
 *   key's order across a retry is the core's job (it holds the key's later messages).
 * - Flow control: at most `maxInFlight` unacked deliveries per group and partition.
 * - `publish` resolves once the messages are durable in the bus. Ids are unique; the bus may drop a
 *   message whose id it has already seen (JetStream dedupe window), consumers dedupe anyway.
 * - `close()` stops deliveries, waits for nothing in flight (unacked messages are redelivered
 *   later), and releases connections.
 */
export interface Transport {
  /** Number of partitions per group. Fixed for the life of a deployment. */
  readonly partitions: number;
  start(): Promise<void>;
  publish(messages: readonly Envelope[]): Promise<void>;
  /** Sends one message again to one group only (dead-letter redrive). */
  redeliver(group: string, message: Envelope): Promise<void>;
  subscribe(options: TransportSubscribeOptions): Promise<TransportSubscription>;
  /**
   * Consumer lag: per durable group that ever subscribed (in any process), the messages published
   * to it and not yet acked, summed over its partitions (`orderflow_consumer_lag_messages`).
   */
  consumerLag(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export interface TransportSubscribeOptions {
  /** Durable group name. */
  group: string;
  /** Message types (`context.Name`) the group receives. */
  types: readonly string[];
  /**
   * Unacked deliveries allowed per partition before the transport pauses that partition.
   * @default 256
   */
  maxInFlight?: number;
  /** Called for each delivery; must not throw. Ack or nack every delivery exactly once. */
  onDelivery: (delivery: Delivery) => void;
  /**
   * Called when this subscription stops receiving a partition while other copies go on (a broker
   * hands it to another copy of the group). Its unsettled deliveries were handed back: their acks
   * and nacks now do nothing, and the subscriber should drop what it holds of that partition.
   * Transports where one subscription receives every partition never call it.
   */
  onPartitionRevoked?: (partition: number) => void;
}

export interface Delivery {
  readonly message: Envelope;
  readonly partition: number;
  /** 1 on first delivery; grows with each nack and, where the transport can tell, each redelivery. */
  readonly deliveryCount: number;
  /** Done: never deliver this message to this group again. */
  ack(): void;
  /** Not done: deliver it again to this group after `delayMs`. */
  nack(delayMs: number): void;
}

export interface TransportSubscription {
  readonly group: string;
  /** Stops deliveries to this subscription; unacked deliveries are redelivered later. */
  stop(): Promise<void>;
}

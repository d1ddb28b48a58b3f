import type { EventStore, ExpectedVersion, NewEvent } from '../event-store/event-store.ts';
import type { Envelope, NewMessage } from '../kernel/envelope.ts';

/**
 * What a message handler may do. Handlers do not write directly: they read through `store`, then
 * declare their effects on the context; the consumer commits those effects, the outgoing messages
 * and the inbox mark of the message in one unit of work, and acks only after that commit. A handler
 * that throws has no effect at all.
 */
export interface HandlerContext {
  /** The message being handled. */
  readonly message: Envelope;
  /** 1 on first delivery; higher on retries. */
  readonly deliveryCount: number;
  /** The consumer group handling the message. */
  readonly group: string;
  /** For reads (aggregate state, stream versions). Writes go through `append`. */
  readonly store: EventStore;
  /** Appends events to a stream when the unit commits. Metadata gets the message's correlation and causation. */
  append(streamId: string, events: readonly NewEvent[], expectedVersion?: ExpectedVersion): void;
  /** Sends a message (command or event) caused by the one being handled, through the outbox. */
  send<T>(message: NewMessage<T>): void;
  /**
   * Sends a message later: a durable timer (step timeout, reservation expiry, carrier delay) that
   * survives restarts and is committed with the handler's other effects.
   */
  schedule<T>(message: NewMessage<T>, delayMs: number): void;
  /** Drops a scheduled message (by the id it was scheduled with) if it is not due yet. */
  cancelScheduled(messageId: string): void;
  /** The consumer's clock. */
  now(): Date;
}

export type MessageHandler<T = unknown> = (
  message: Envelope<T>,
  context: HandlerContext,
) => void | Promise<void>;

/** A consumer group: a durable name and the handlers it runs, by message type. */
export interface HandlerGroup {
  /** Durable group name, e.g. `saga`, `inventory`, `notifications.email`. */
  readonly group: string;
  readonly handlers: Readonly<Record<string, MessageHandler<never>>>;
  /** Overrides the default retry policy for this group. */
  readonly retry?: Partial<RetryPolicyOptions>;
}

export interface RetryPolicyOptions {
  /**
   * Deliveries in all, the first included, before the message is dead-lettered.
   * @default 8
   */
  maxAttempts: number;
  /**
   * Delay before the first retry.
   * @default 100
   */
  initialDelayMs: number;
  /**
   * Upper bound of any delay.
   * @default 30000
   */
  maxDelayMs: number;
  /**
   * Growth factor between retries.
   * @default 2
   */
  multiplier: number;
  /**
   * Fraction of the delay that is randomised (0 = none, 1 = full jitter).
   * @default 0.2
   */
  jitter: number;
}

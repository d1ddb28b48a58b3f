import type { Envelope } from '../kernel/envelope.ts';

/**
 * The event store port: Orderflow's source of truth.
 *
 * Semantics every adapter keeps (proved by `testing/event-store-contract.ts`):
 * - Streams are append-only sequences of events, versions counting from 0. A stream that was never
 *   written is at version -1 ("no stream").
 * - Every event gets a global `position`, strictly increasing in commit order. `readAll` and
 *   subscriptions deliver events in position order, never skipping one that commits late.
 * - `append` checks the expected version atomically; on mismatch it throws `ConcurrencyError` and
 *   writes nothing.
 * - Event ids are unique store-wide. Appending an event whose id is already stored skips that event;
 *   if every event of an append is already stored, the append is an idempotent no-op that succeeds
 *   (a retried append after a lost reply must not fail or duplicate).
 * - `commit` writes a whole unit of work in one transaction: appends to several streams, outgoing
 *   messages (the outbox), the inbox mark of the message being handled and a subscription
 *   checkpoint. Either all of it is durable when the promise resolves, or none of it.
 * - Writes issued in the same tick are group-committed: one transaction, one fsync. Each unit of
 *   work still succeeds or fails on its own.
 * - `close()` waits for queued writes to commit, stops subscriptions and releases the connection.
 */
export interface EventStore {
  append(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  commit(unit: UnitOfWork): Promise<CommitResult>;

  /** Events of one stream in version order. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  /** Current version of a stream, -1 when it does not exist. */
  streamVersion(streamId: string): Promise<number>;
  /** Events of all streams after `after` (exclusive) in global order. */
  readAll(options?: ReadAllOptions): Promise<StoredEvent[]>;
  /** Every event whose metadata carries this correlation id (an order's audit trail), in global order. */
  readCorrelated(correlationId: string): Promise<StoredEvent[]>;
  /** True when `consumer` has already recorded `messageId` in its inbox. */
  isHandled(consumer: string, messageId: string): Promise<boolean>;

  /**
   * A catch-up subscription with a durable checkpoint: reads history from its checkpoint, then
   * switches to live events. The handler's effects and the new checkpoint commit together, so
   * every event is handled exactly once across restarts.
   */
  subscribe(options: SubscriptionOptions): EventSubscription;

  /** The durable checkpoint of a subscription: the last position it handled, or -1. */
  readCheckpoint(subscriptionId: string): Promise<number>;

  /** Highest position written so far (-1 when empty). */
  headPosition(): Promise<number>;

  /**
   * Durable timers: moves scheduled messages whose due time is at or before `now` into the outbox,
   * in one transaction, oldest first. Returns how many moved and the due time of the next one.
   */
  releaseDueMessages(now: number, limit?: number): Promise<{ released: number; nextDueAt: number | null }>;
  /** Hears the due time of scheduled messages after the commit that scheduled them. */
  onScheduled(listener: (dueAt: number) => void): () => void;

  /**
   * Hears of events after they commit (in this process; adapters shared by several processes relay
   * other processes' commits where they can). For live views — server-sent events, `Prefer: wait` —
   * never for processing: a listener may miss events while it is not registered; use `subscribe`.
   */
  onEventsCommitted(listener: (events: readonly CommittedEvent[]) => void): () => void;

  close(): Promise<void>;
}

/**
 * Expected version of a stream on append:
 * - `'any'`: no check;
 * - `'no_stream'`: the stream must not exist yet;
 * - `'stream_exists'`: the stream must have at least one event;
 * - a number: the stream's current version must be exactly this.
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

export const NO_STREAM_VERSION = -1;

export interface NewEvent<T = unknown> {
  /** Unique id; generated when absent. Supplying a deterministic id makes retried appends idempotent. */
  id?: string;
  /** Short, past-tense event name, e.g. `OrderPlaced`. */
  type: string;
  data: T;
  metadata?: EventMetadata;
}

export interface EventMetadata {
  /** The order (or process) the event belongs to; indexed for audit trails. */
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  /** Schema version of `data`, for upcasting old events. Defaults to 1. */
  schemaVersion?: number;
  [key: string]: unknown;
}

export interface StoredEvent<T = unknown> {
  id: string;
  streamId: string;
  /** Version of the stream after this event (0 for its first event). */
  version: number;
  /** Global position, strictly increasing in commit order. */
  position: number;
  type: string;
  data: T;
  metadata: EventMetadata;
  /** RFC 3339 time the event was stored. */
  time: string;
}

export interface AppendOptions {
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** Version of the stream after the append. */
  nextVersion: number;
  /** Global position of the last event written (or found, for an idempotent retry). */
  lastPosition: number;
  /** False when every event was already stored (idempotent retry). */
  written: boolean;
}

export interface StreamAppend {
  streamId: string;
  events: readonly NewEvent[];
  expectedVersion?: ExpectedVersion;
}

export interface InboxMark {
  /** The consumer group that handled the message. */
  consumer: string;
  messageId: string;
}

export interface UnitOfWork {
  appends?: readonly StreamAppend[];
  /** Messages to publish after the commit (the transactional outbox). */
  messages?: readonly Envelope[];
  /**
   * The message this unit of work handles. If the consumer already recorded it, nothing is written
   * and the result says `duplicate: true`.
   */
  inbox?: InboxMark;
  checkpoint?: { subscriptionId: string; position: number };
  /**
   * Messages to publish later (durable timers: step timeouts, reservation expiry, the carrier's
   * delays). They survive restarts; one already due at commit goes straight to the outbox.
   */
  schedule?: readonly ScheduledMessage[];
  /**
   * Ids of scheduled messages to drop if they are not due yet (a step finished before its timeout):
   * a timer that no longer matters never fires. Unknown or already released ids are ignored.
   */
  cancelScheduled?: readonly string[];
}

/** What live listeners learn of a committed event. */
export interface CommittedEvent {
  streamId: string;
  type: string;
  correlationId?: string;
}

export interface ScheduledMessage {
  message: Envelope;
  /** Epoch milliseconds at which the message is published. */
  dueAt: number;
}

export interface CommitResult {
  /** True when the inbox mark was already there: the whole unit was skipped. */
  duplicate: boolean;
  /** One result per entry of `appends`, in order. */
  appends: AppendResult[];
}

export interface ReadStreamOptions {
  /** First version to read (inclusive). Default 0. */
  fromVersion?: number;
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Read events with a position strictly greater than this. Default -1 (from the start). */
  after?: number;
  /** Default 1,000. */
  maxCount?: number;
  /** Only these event types. */
  types?: readonly string[];
}

export interface SubscriptionContext {
  /** Adds work to the unit that commits with this batch's checkpoint. */
  readonly unit: {
    appends: StreamAppend[];
    messages: Envelope[];
  };
}

export interface SubscriptionOptions {
  /** Durable name; the checkpoint is stored under it. */
  subscriptionId: string;
  /** Only these event types (others advance the checkpoint silently). */
  types?: readonly string[];
  /** Largest batch handed to the handler. Default 500. */
  batchSize?: number;
  handler: (events: readonly StoredEvent[], context: SubscriptionContext) => void | Promise<void>;
  /** Called when the handler throws; the batch is retried after a pause. */
  onError?: (error: Error) => void;
}

export interface EventSubscription {
  readonly subscriptionId: string;
  /** Resolves when the subscription has handled everything up to the head at the time of the call. */
  caughtUp(): Promise<void>;
  /** Stops after the batch in hand; its checkpoint is committed. */
  stop(): Promise<void>;
}

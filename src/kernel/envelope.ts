import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { InvalidOptionsError } from './errors.ts';
import { context, trace, type Context } from '@opentelemetry/api';
import { traceparentOf } from './trace-context.ts';

/**
 * The envelope every message travels in: CloudEvents 1.0 attributes plus correlation, causation,
 * W3C trace context and the partition key (DESIGN.md §5). In JetStream these attributes become
 * headers; in the embedded bus the object is handed over in process.
 */
export interface Envelope<T = unknown> {
  readonly specversion: '1.0';
  /** Unique message id: the dedupe key for inboxes and for the broker. */
  readonly id: string;
  /** The context that produced the message, e.g. `orderflow/orders`. */
  readonly source: string;
  /** Namespaced message type: `<context>.<Name>`, e.g. `orders.OrderPlaced`, `inventory.ReserveStock`. */
  readonly type: string;
  /** What the message is about (usually the order id). */
  readonly subject?: string;
  /** RFC 3339 time the message was created. */
  readonly time: string;
  readonly datacontenttype: 'application/json';
  /** The order (or other business process) this message belongs to. */
  readonly correlationid: string;
  /** Id of the message that caused this one. */
  readonly causationid?: string;
  /** W3C trace context, propagated from cause to effect. */
  readonly traceparent?: string;
  /** Messages with the same key are handled in order; different keys in parallel. */
  readonly partitionkey: string;
  readonly data: T;
}

export interface NewMessage<T = unknown> {
  type: string;
  data: T;
  /** Defaults to the correlation id (per-order ordering). */
  partitionKey?: string;
  subject?: string;
  /** Defaults to the cause's correlation id; required when there is no cause. */
  correlationId?: string;
  /** Overrides the generated id, for deterministic ids derived from a business key. */
  id?: string;
}

export interface EnvelopeFactoryOptions {
  source: string;
  now?: () => Date;
}

/**
 * Builds envelopes: ids, times, correlation and trace propagation. The trace parent is the span of
 * `traced` (the sending handler's, the HTTP request's; by default the active context's), so the
 * message's consumer span is its child (see traceparentFor).
 */
export function createEnvelope<T>(
  message: NewMessage<T>,
  options: EnvelopeFactoryOptions,
  cause?: Envelope,
  traced: Context = context.active(),
): Envelope<T> {
  const correlationid = message.correlationId ?? cause?.correlationid;
  if (correlationid === undefined) {
    throw InvalidOptionsError.format(
      'correlationId',
      `must be set for message ${message.type}, which has no cause (got undefined)`,
    );
  }
  const envelope: Envelope<T> = {
    specversion: '1.0',
    // Time-ordered ids: inbox and dedupe indexes keyed by message id then grow at their end instead
    // of dirtying a random page per message in every group commit.
    id: message.id ?? uuidv7(),
    source: options.source,
    type: message.type,
    time: (options.now?.() ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    correlationid,
    partitionkey: message.partitionKey ?? correlationid,
    traceparent: traceparentFor(traced, cause),
    data: message.data,
    ...(message.subject !== undefined ? { subject: message.subject } : {}),
    ...(cause !== undefined ? { causationid: cause.id } : {}),
  };
  return envelope;
}

/**
 * The recording span's own traceparent: the consumer's span becomes its child. A span that records
 * nothing (no exporter) is no parent to point at: a new span id in its trace, so that each message
 * still has an id of its own in the log lines. Without a span, the same in the cause's trace.
 */
function traceparentFor(traced: Context, cause: Envelope | undefined): string {
  const own = traceparentOf(traced);
  if (own === undefined) return childTraceparent(cause?.traceparent);
  return trace.getSpan(traced)!.isRecording() ? own : `${own.slice(0, 36)}${randomHex(8)}${own.slice(52)}`;
}

/** A new span in the cause's trace, or a new trace. Format: `00-<trace-id>-<span-id>-01`. */
function childTraceparent(parent: string | undefined): string {
  const span = randomHex(8);
  const traceId = parent !== undefined && parent.length === 55 ? parent.slice(3, 35) : randomHex(16);
  return `00-${traceId}-${span}-01`;
}

// randomBytes() per envelope is a system call each time (10% of the bus benchmark); ids are drawn
// from a pooled buffer instead, as crypto.randomUUID() does.
const RANDOM_POOL_SIZE = 8192;
const randomPool = Buffer.allocUnsafe(RANDOM_POOL_SIZE);
let randomPoolOffset = RANDOM_POOL_SIZE;

function randomHex(bytes: number): string {
  if (randomPoolOffset + bytes > RANDOM_POOL_SIZE) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const hex = randomPool.toString('hex', randomPoolOffset, randomPoolOffset + bytes);
  randomPoolOffset += bytes;
  return hex;
}

/** The context part of a namespaced type: `orders.OrderPlaced` → `orders`. */
export function contextOf(type: string): string {
  const dot = type.indexOf('.');
  return dot === -1 ? type : type.slice(0, dot);
}

/** The name part of a namespaced type: `orders.OrderPlaced` → `OrderPlaced`. */
export function nameOf(type: string): string {
  const dot = type.indexOf('.');
  return dot === -1 ? type : type.slice(dot + 1);
}

/**
 * Maps a partition key to one of `partitions` partitions (FNV-1a, 32 bit). Every adapter uses this
 * function, so a key lands in the same partition on the embedded bus and on JetStream.
 */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

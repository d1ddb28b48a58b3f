import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { Envelope } from '../kernel/envelope.ts';
import { contextWithTraceparent, tracer, withOrderId } from '../kernel/trace-context.ts';

// The messaging semantic conventions' attribute names. They are still "incubating" in
// @opentelemetry/semantic-conventions, whose advice is to copy them rather than import that entry.
const MESSAGING_SYSTEM = 'messaging.system';
const MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
const MESSAGING_OPERATION_NAME = 'messaging.operation.name';
const MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
const MESSAGING_MESSAGE_ID = 'messaging.message.id';
const MESSAGING_CONVERSATION_ID = 'messaging.message.conversation_id';
const MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name';
const ORDER_ID_ATTRIBUTE = 'orderflow.order_id';
const ATTEMPT_ATTRIBUTE = 'orderflow.message.attempt';
const OUTCOME_ATTRIBUTE = 'orderflow.message.outcome';

/** What became of a delivery: the span's `orderflow.message.outcome`. */
export type DeliveryOutcome = 'handled' | 'duplicate' | 'retried' | 'dead_lettered';

export interface ConsumerSpanOptions {
  group: string;
  /** `messaging.system`. */
  system: string;
  /** The order a message is for (`orderflow.order_id`, `order_id` in log lines), if any. */
  orderIdOf: (message: Envelope) => string | undefined;
}

/** A started CONSUMER span and the context to handle the message in. */
export interface ConsumerSpan {
  readonly span: Span;
  readonly context: Context;
}

/** The message's trace (its `traceparent`) and order, for log lines when it gets no span. */
export function deliveryTraceContext(message: Envelope, options: ConsumerSpanOptions): Context {
  const orderId = options.orderIdOf(message);
  const traced = contextWithTraceparent(ROOT_CONTEXT, message.traceparent);
  return orderId === undefined ? traced : withOrderId(traced, orderId);
}

/**
 * Starts the `process <type>` span of one delivery, a child of the span that sent the message (its
 * `traceparent`), with the order id in its context for log lines.
 */
export function startConsumerSpan(
  message: Envelope,
  attempt: number,
  options: ConsumerSpanOptions,
): ConsumerSpan {
  const orderId = options.orderIdOf(message);
  const parent = deliveryTraceContext(message, options);
  const span = tracer().startSpan(`process ${message.type}`, { kind: SpanKind.CONSUMER }, parent);
  // A span that records nothing (no exporter) is not worth the attribute objects.
  if (span.isRecording()) {
    span.setAttributes({
      [MESSAGING_SYSTEM]: options.system,
      [MESSAGING_OPERATION_TYPE]: 'process',
      [MESSAGING_OPERATION_NAME]: 'process',
      [MESSAGING_DESTINATION_NAME]: message.type,
      [MESSAGING_MESSAGE_ID]: message.id,
      [MESSAGING_CONVERSATION_ID]: message.correlationid,
      [MESSAGING_CONSUMER_GROUP_NAME]: options.group,
      [ATTEMPT_ATTRIBUTE]: attempt,
      ...(orderId !== undefined ? { [ORDER_ID_ATTRIBUTE]: orderId } : {}),
    });
  }
  return { span, context: trace.setSpan(parent, span) };
}

/** Records a handler's failure on its span: the exception event and an ERROR status. */
export function recordFailure(span: Span, error: Error): void {
  if (!span.isRecording()) return;
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** Ends the span; a retried delivery's next attempt gets a span of its own. */
export function endConsumerSpan(span: Span, outcome: DeliveryOutcome): void {
  if (span.isRecording()) span.setAttribute(OUTCOME_ATTRIBUTE, outcome);
  span.end();
}

import {
  context,
  createContextKey,
  isSpanContextValid,
  trace,
  type Context,
  type Tracer,
} from '@opentelemetry/api';

/**
 * Trace context for the rest of src/: the OpenTelemetry API only, never the SDK (src/app/tracing.ts
 * registers that). Without a registered SDK every call here is a cheap no-op. Code that owns a span
 * hands its context on explicitly (to the messages it sends, to its log lines): the active context
 * (AsyncLocalStorage) is there only while spans are exported, as it slows every promise down.
 */

/** The instrumentation scope of every span Orderflow makes. */
export const TRACER_NAME = 'orderflow';

/**
 * The tracer of the SDK registered now. Looked up each time rather than kept: an app stopping last
 * shuts its provider down, and the next app in the same process registers a new one.
 */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The order the work in this context is for; log lines carry it as `order_id`. */
export const ORDER_ID = createContextKey('orderflow.order_id');

/** `parent` with the order id set (the context to run an order's work in). */
export function withOrderId(parent: Context, orderId: string): Context {
  return parent.setValue(ORDER_ID, orderId);
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * `parent` with the remote span of a W3C `traceparent` (version 00) as its span; `parent` itself
 * when the header is missing or malformed (all-zero ids included). Runs for every message handled:
 * one test and slices, no capture groups.
 */
export function contextWithTraceparent(parent: Context, traceparent: string | undefined): Context {
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return parent;
  const traceId = traceparent.slice(3, 35);
  const spanId = traceparent.slice(36, 52);
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return parent;
  const traceFlags = Number.parseInt(traceparent.slice(53, 55), 16);
  return trace.setSpanContext(parent, { traceId, spanId, traceFlags, isRemote: true });
}

/** The `traceparent` of the span in `traced`, or undefined when it has none. */
export function traceparentOf(traced: Context): string | undefined {
  const spanContext = trace.getSpanContext(traced);
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return undefined;
  const flags = spanContext.traceFlags & 1 ? '01' : '00';
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** The trace fields of a log line. */
export interface TraceLogFields {
  trace_id?: string;
  span_id?: string;
  order_id?: string;
}

/**
 * The log fields of a context: `trace_id` and `span_id` of its span, `order_id` when the work is for
 * an order. For lines logged where the context is at hand; a new object each call.
 */
export function traceFields(traced: Context): TraceLogFields {
  const fields: TraceLogFields = {};
  const spanContext = trace.getSpanContext(traced);
  if (spanContext !== undefined && isSpanContextValid(spanContext)) {
    fields.trace_id = spanContext.traceId;
    fields.span_id = spanContext.spanId;
  }
  const orderId = traced.getValue(ORDER_ID);
  if (typeof orderId === 'string') fields.order_id = orderId;
  return fields;
}

/**
 * pino's `mixin`: every line carries the trace fields of the active context. The active context
 * follows async calls only while spans are exported (src/app/tracing.ts); without an exporter the
 * code that has a span passes its fields itself (traceFields). A new object each call: pino merges
 * the line into it.
 */
export function traceLogFields(): TraceLogFields {
  return traceFields(context.active());
}

import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope } from './envelope.ts';
import {
  contextWithTraceparent,
  traceFields,
  traceLogFields,
  traceparentOf,
  tracer,
  withOrderId,
} from './trace-context.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

describe('trace context', () => {
  const provider = new NodeTracerProvider();
  beforeAll(() => provider.register());
  afterAll(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  it('reads a W3C traceparent into a remote parent, and ignores a malformed one', () => {
    const parent = trace.getSpanContext(contextWithTraceparent(ROOT_CONTEXT, `00-${TRACE_ID}-${SPAN_ID}-01`));
    expect(parent).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    for (const bad of [
      undefined,
      '',
      `01-${TRACE_ID}-${SPAN_ID}-01`,
      `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${SPAN_ID}`,
    ]) {
      expect(contextWithTraceparent(ROOT_CONTEXT, bad)).toBe(ROOT_CONTEXT);
    }
  });

  it("gives log lines the active span's ids and the order id, and nothing outside a span", () => {
    expect(traceLogFields()).toEqual({});
    const span = tracer().startSpan(
      'work',
      {},
      contextWithTraceparent(ROOT_CONTEXT, `00-${TRACE_ID}-${SPAN_ID}-01`),
    );
    const traced = withOrderId(trace.setSpan(ROOT_CONTEXT, span), 'order-1');
    const fields = { trace_id: TRACE_ID, span_id: span.spanContext().spanId, order_id: 'order-1' };
    expect(traceFields(traced)).toEqual(fields);
    expect(context.with(traced, traceLogFields)).toEqual(fields);
    // pino merges the line into the mixin's object: each call must hand out a new one.
    expect(traceLogFields()).not.toBe(traceLogFields());
  });

  it("makes a new message the child of the given or active span, or else of its cause's trace", () => {
    const cause = createEnvelope({ type: 't.Cause', data: {}, correlationId: 'c' }, { source: 'test' });
    const span = tracer().startSpan('handler');
    const traced = trace.setSpan(ROOT_CONTEXT, span);
    const expected = `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
    expect(traceparentOf(traced)).toBe(expected);
    const effect = { type: 't.Effect', data: {} };
    expect(createEnvelope(effect, { source: 'test' }, cause, traced).traceparent).toBe(expected);
    const sent = context.with(traced, () => createEnvelope(effect, { source: 'test' }, cause));
    expect(sent.traceparent).toBe(expected);

    // A span that records nothing is not pointed at: a new span id in its trace.
    const unrecorded = trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(span.spanContext()));
    const child = createEnvelope(effect, { source: 'test' }, cause, unrecorded).traceparent!;
    expect(child).toMatch(new RegExp(`^00-${span.spanContext().traceId}-[0-9a-f]{16}-01$`));
    expect(child).not.toBe(expected);

    expect(traceparentOf(context.active())).toBeUndefined();
    const outside = createEnvelope({ type: 't.Effect', data: {} }, { source: 'test' }, cause);
    expect(outside.traceparent!.slice(3, 35)).toBe(cause.traceparent!.slice(3, 35));
    expect(outside.traceparent).not.toBe(cause.traceparent);
  });
});

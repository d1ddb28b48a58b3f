import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { traceLogFields, tracer } from '../kernel/trace-context.ts';
import { startTracing, type Tracing } from './tracing.ts';

const logger = { warn: vi.fn() };
const options = { version: '1.2.3', roles: ['api', 'saga'] as const, logger };
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('startTracing', () => {
  const started: Tracing[] = [];
  const start = (): Tracing => {
    const tracing = startTracing(options);
    started.push(tracing);
    return tracing;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((tracing) => tracing.stop()));
    vi.unstubAllEnvs();
    logger.warn.mockReset();
  });

  it("without an endpoint has no SDK and no active context, and still reads the caller's trace", () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', '');
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', '');
    expect(start().exporting).toBe(false);
    const parent = propagation.extract(ROOT_CONTEXT, { traceparent: TRACEPARENT });
    // The no-op span carries its parent's ids: the trace id travels on.
    const span = tracer().startSpan('work', {}, parent);
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext()).toMatchObject({
      traceId: TRACEPARENT.slice(3, 35),
      spanId: TRACEPARENT.slice(36, 52),
    });
    // No AsyncLocalStorage: it would tax every promise of the process.
    expect(context.with(trace.setSpan(parent, span), traceLogFields)).toEqual({});
  });

  it('with an endpoint records spans, and the active context follows async calls', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${await closedPort()}`);
    expect(start().exporting).toBe(true);
    const span = tracer().startSpan('work');
    expect(span.isRecording()).toBe(true);
    const fields = await context.with(trace.setSpan(context.active(), span), async () => {
      await Promise.resolve();
      return traceLogFields();
    });
    expect(fields).toEqual({ trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
  });

  it('sets up once per process: the last app to stop tears it down, and a later one sets it up again', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${await closedPort()}`);
    const first = startTracing(options);
    const second = startTracing(options);
    await first.stop();
    await first.stop(); // twice is once
    expect(tracer().startSpan('still').isRecording()).toBe(true);
    await second.stop();
    expect(tracer().startSpan('gone').isRecording()).toBe(false);
    expect(start().exporting).toBe(true);
    expect(tracer().startSpan('again').isRecording()).toBe(true);
  });

  it('does not fail the stop when the collector is down', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${await closedPort()}`);
    vi.stubEnv('OTEL_EXPORTER_OTLP_TIMEOUT', '300');
    const tracing = startTracing(options);
    tracer().startSpan('exported').end();
    await expect(tracing.stop()).resolves.toBeUndefined();
    expect(logger.warn).toHaveBeenCalled();
  });
});

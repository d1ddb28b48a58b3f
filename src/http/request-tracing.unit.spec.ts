import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '../kernel/http/index.ts';
import { requestTraceContext } from '../kernel/http/index.ts';
import { traceLogFields, traceparentOf } from '../kernel/trace-context.ts';
import { createHttpServer } from './create-http-server.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { createMetrics } from './metrics.ts';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

describe('request spans', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let app: HttpServer;
  let url: string;

  beforeAll(async () => {
    provider.register();
    const metrics = createMetrics({ collectDefaults: false });
    app = await createHttpServer({
      logger: pino({ level: 'silent' }),
      metrics,
      lifecycle: () => 'running',
      version: '0.0.0-test',
    });
    registerHealthRoutes(app, { metrics, readiness: () => ({ ready: true, checks: {} }) });
    app.post('/things/:id', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async (request) => {
      await delay(1); // the body was read from the socket, and the handler awaited: still in the span
      return {
        traceparent: traceparentOf(context.active()),
        bound: traceparentOf(requestTraceContext(request)!),
        log: traceLogFields(),
      };
    });
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await app.close();
    trace.disable();
    context.disable();
    await provider.shutdown();
  });
  beforeEach(() => exporter.reset());

  it("runs the handler in a SERVER span named by the route, continuing the caller's trace", async () => {
    const response = await fetch(`${url}/things/42?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ n: 1 }),
    });
    const body = (await response.json()) as {
      traceparent: string;
      bound: string;
      log: Record<string, string>;
    };
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(1);
    const [span] = exporter.getFinishedSpans();
    expect(span!.name).toBe('POST /things/:id');
    expect(span!.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(span!.spanContext().traceId).toBe(CALLER_TRACE);
    expect(span!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/things/:id',
      'url.path': '/things/42',
      'http.response.status_code': 200,
    });
    expect(body.traceparent).toBe(`00-${CALLER_TRACE}-${span!.spanContext().spanId}-01`);
    expect(body.bound).toBe(body.traceparent);
    expect(body.log).toEqual({ trace_id: CALLER_TRACE, span_id: span!.spanContext().spanId });
  });

  it('marks a 5xx as an error, and traces no probe or scrape', async () => {
    expect((await fetch(`${url}/boom`)).status).toBe(500);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await expect.poll(() => exporter.getFinishedSpans().map((s) => s.name)).toEqual(['GET /boom']);
    const [span] = exporter.getFinishedSpans();
    expect(span!.status.code).toBe(2); // ERROR
    expect(span!.attributes['error.type']).toBe('500');
  });
});

import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES } from '../kernel/errors.ts';
import type { HttpServer } from '../kernel/http/index.ts';
import { createHttpServer, type LifecycleState } from './create-http-server.ts';
import { registerHealthRoutes, type Readiness } from './health-routes.ts';
import { createMetrics } from './metrics.ts';

const logger = pino({ level: 'silent' });

const Body = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    count: Type.Integer({ minimum: 1, maximum: 5 }),
    tags: Type.Optional(Type.Array(Type.String(), { maxItems: 2 })),
    nested: Type.Optional(
      Type.Object(
        { code: Type.String({ pattern: '^[A-Z]{3}$', 'x-error': 'must be three capital letters' }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

let app: HttpServer | undefined;
let state: LifecycleState = 'running';
let readiness: Readiness = { ready: true, checks: { store: true } };

async function server(bodyLimit?: number): Promise<HttpServer> {
  const metrics = createMetrics({ collectDefaults: false });
  app = await createHttpServer({
    logger,
    metrics,
    lifecycle: () => state,
    version: '0.0.0-test',
    ...(bodyLimit ? { bodyLimit } : {}),
  });
  registerHealthRoutes(app, { metrics, readiness: () => readiness });
  app.post('/things', { schema: { body: Body } }, async (request) => ({ got: request.body }));
  app.get(
    '/things/:id',
    {
      schema: {
        params: Type.Object({ id: Type.String() }),
        querystring: Type.Object({ limit: Type.Optional(Type.Integer()) }),
      },
    },
    async (request) => {
      if (request.params.id === 'conflict') throw new AppError(ERROR_CODES.IDEMPOTENCY_KEY_REUSED, 'taken');
      if (request.params.id === 'boom') throw new Error('database password is hunter2');
      return { limit: request.query.limit ?? null };
    },
  );
  await app.ready();
  return app;
}

afterEach(async () => {
  await app?.close();
  app = undefined;
  state = 'running';
  readiness = { ready: true, checks: { store: true } };
});

function post(target: HttpServer, payload: string, contentType = 'application/json') {
  return target.inject({ method: 'POST', url: '/things', headers: { 'content-type': contentType }, payload });
}

describe('problem details', () => {
  it('answers schema violations with 422 naming every invalid field', async () => {
    const response = await post(
      await server(),
      JSON.stringify({ count: 9, tags: ['a', 'b', 'c'], nested: { code: 'x1' }, extra: true }),
    );
    expect(response.statusCode).toBe(422);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json();
    expect(problem).toMatchObject({
      type: '/problems/validation-failed',
      status: 422,
      code: 'VALIDATION_FAILED',
      instance: '/things',
      title: expect.any(String),
      detail: expect.any(String),
    });
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { pointer: '/name', detail: 'is required' },
        { pointer: '/count', detail: 'must be at most 5' },
        { pointer: '/tags', detail: 'must have at most 2 items' },
        { pointer: '/nested/code', detail: 'must be three capital letters' },
        { pointer: '/extra', detail: 'is not allowed' },
      ]),
    );
    expect(problem.errors).toHaveLength(5);
  });

  it('does not coerce body types or drop unknown properties', async () => {
    const response = await post(await server(), JSON.stringify({ name: 'a', count: '3' }));
    expect(response.statusCode).toBe(422);
    expect(response.json().errors).toEqual([{ pointer: '/count', detail: 'must be an integer' }]);
  });

  it('accepts a valid body', async () => {
    const response = await post(await server(), JSON.stringify({ name: 'a', count: 3 }));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ got: { name: 'a', count: 3 } });
  });

  it('answers malformed JSON with 400', async () => {
    const response = await post(await server(), '{"name": ');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'MALFORMED_REQUEST', type: '/problems/malformed-request' });
  });

  it('answers an unsupported media type with 415', async () => {
    const response = await post(await server(), 'name=a', 'application/x-www-form-urlencoded');
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });
  });

  it('answers a body over the limit with 413', async () => {
    const response = await post(await server(64), JSON.stringify({ name: 'x'.repeat(100), count: 1 }));
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('answers an unknown route with a 404 problem', async () => {
    const response = await (await server()).inject({ method: 'GET', url: '/nowhere?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      type: '/problems/not-found',
      code: 'NOT_FOUND',
      instance: '/nowhere?x=1',
    });
  });

  it("maps an AppError's category to its status", async () => {
    const response = await (await server()).inject({ method: 'GET', url: '/things/conflict' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
      detail: 'taken',
      type: '/problems/idempotency-key-reused',
    });
  });

  it('answers anything else with a 500 that reveals nothing', async () => {
    const response = await (await server()).inject({ method: 'GET', url: '/things/boom' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 'INTERNAL', detail: 'internal error' });
    expect(response.body).not.toContain('hunter2');
  });

  it('coerces query strings to their schema types', async () => {
    const response = await (await server()).inject({ method: 'GET', url: '/things/a?limit=5' });
    expect(response.json()).toEqual({ limit: 5 });
    const bad = await app!.inject({ method: 'GET', url: '/things/a?limit=many' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors).toEqual([{ pointer: '/limit', detail: 'querystring: must be an integer' }]);
  });
});

describe('lifecycle', () => {
  it('refuses requests while shutting down, but keeps serving health', async () => {
    const target = await server();
    state = 'stopping';
    const refused = await target.inject({ method: 'GET', url: '/things/a' });
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ code: 'SHUTTING_DOWN' });
    expect((await target.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers /readyz with 503 while not ready and 200 when ready', async () => {
    const target = await server();
    readiness = { ready: false, reason: 'starting', checks: { store: true, consumers: false } };
    const starting = await target.inject({ method: 'GET', url: '/readyz' });
    expect(starting.statusCode).toBe(503);
    expect(starting.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(starting.json()).toMatchObject({ code: 'NOT_READY', detail: 'not ready: starting' });
    readiness = { ready: true, checks: { store: true, consumers: true } };
    const ready = await target.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { store: true, consumers: true } });
  });
});

describe('metrics', () => {
  it('counts requests by route template, method and status', async () => {
    const target = await server();
    await target.inject({ method: 'GET', url: '/things/a' });
    await target.inject({ method: 'GET', url: '/things/b' });
    await target.inject({ method: 'GET', url: '/nowhere' });
    const text = (await target.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('orderflow_http_requests_total{route="/things/:id",method="GET",status="200"} 2');
    expect(text).toContain('orderflow_http_requests_total{route="unmatched",method="GET",status="404"} 1');
    expect(text).toMatch(
      /orderflow_http_request_duration_seconds_count\{route="\/things\/:id",method="GET"\} 2/,
    );
  });
});

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminAuth } from './admin-auth.ts';
import { createHttpServer } from '../../http/create-http-server.ts';
import type { HttpServer } from './http-server.ts';
import { createMetrics } from '../../http/metrics.ts';

const KEY = 'the-right-admin-key-0123456789';
let app: HttpServer | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function server(): Promise<HttpServer> {
  app = await createHttpServer({
    logger: pino({ level: 'silent' }),
    metrics: createMetrics({ collectDefaults: false }),
    lifecycle: () => 'running',
    version: '0.0.0-test',
  });
  app.get('/admin', { onRequest: createAdminAuth(KEY) }, async () => ({ ok: true }));
  return app;
}

describe('admin authentication', () => {
  it('answers 401 with a Bearer challenge when there are no credentials', async () => {
    const response = await (await server()).inject({ method: 'GET', url: '/admin' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED', type: '/problems/unauthorized' });
  });

  it('answers 401 for another scheme', async () => {
    const response = await (
      await server()
    ).inject({ method: 'GET', url: '/admin', headers: { authorization: `Basic ${KEY}` } });
    expect(response.statusCode).toBe(401);
  });

  it.each(['wrong', `${KEY}x`, KEY.slice(0, -1)])('answers 403 for the wrong key %j', async (key) => {
    const response = await (
      await server()
    ).inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${key}` } });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('lets the right key through', async () => {
    const response = await (
      await server()
    ).inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${KEY}` } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { createSqliteEventStore } from '../adapters/sqlite/sqlite-event-store.ts';
import { createSqliteOutbox } from '../adapters/sqlite/sqlite-outbox.ts';
import type { EventStore } from '../event-store/index.ts';
import { createHttpServer, createMetrics } from '../http/index.ts';
import type { HttpServer, ProblemDetails } from '../kernel/http/index.ts';
import { readOperatorActions } from '../messaging/index.ts';
import { createSimulatedCarrier, type SimulatedCarrier } from './carrier-simulator.ts';
import { createSimulatedGateway, type SimulatedGateway } from './payment-gateway-simulator.ts';
import { registerSimulatorAdminRoutes } from './simulator-admin-routes.ts';
import {
  createSimulatorSettingsFollower,
  SIMULATOR_SETTINGS_CHANGED,
  simulatorSettingsStreamId,
  type SimulatorSettingsByName,
  type SimulatorSettingsFollower,
} from './simulator-settings.ts';

/*
 * The simulators' settings at run time, on a real SQLite store: the admin routes store a change,
 * record it as an operator action and apply it to the live simulators; refused bodies change nothing;
 * a follower started later (a restart, another process) starts from what was stored.
 */

const KEY = 'simulator-admin-test-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
const INITIAL: SimulatorSettingsByName = {
  'payment-gateway': { failureRate: 0, latencyMs: 0 },
  carrier: { failureRate: 0, delayMs: 5_000 },
};
const TIMEOUT_MS = 2_000;

describe('simulator admin routes', () => {
  let dir: string;
  let store: EventStore;
  let follower: SimulatorSettingsFollower;
  let gateway: SimulatedGateway;
  let carrier: SimulatedCarrier;
  let http: HttpServer;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-simulators-'));
    const database = openSqliteDatabase({ filename: path.join(dir, 'orderflow.db') });
    store = createSqliteEventStore({ database, outbox: createSqliteOutbox(database) });
    follower = createSimulatorSettingsFollower({ store, initial: INITIAL });
    gateway = createSimulatedGateway({ file: path.join(dir, 'gateway.db'), timeoutMs: TIMEOUT_MS });
    carrier = createSimulatedCarrier({ delayMs: INITIAL.carrier.delayMs });
    follower.onChange('payment-gateway', (settings) => gateway.configure(settings));
    follower.onChange('carrier', (settings) => carrier.configure(settings));
    await follower.start();
    http = await createHttpServer({
      logger: pino({ level: 'silent' }),
      metrics: createMetrics({ collectDefaults: false }),
      lifecycle: () => 'running',
      version: 'test',
    });
    registerSimulatorAdminRoutes(http, { adminKey: KEY, store, follower, gatewayTimeoutMs: TIMEOUT_MS });
    await http.ready();
  });

  afterEach(async () => {
    await http.close();
    await follower.stop();
    await gateway.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const put = (simulator: string, payload: Record<string, unknown> | unknown[]) =>
    http.inject({ method: 'PUT', url: `/v1/admin/simulators/${simulator}`, headers: auth, payload });
  const list = async () => {
    const response = await http.inject({ method: 'GET', url: '/v1/admin/simulators', headers: auth });
    expect(response.statusCode).toBe(200);
    return response.json<{ items: Record<string, unknown>[] }>().items;
  };
  const initialView = [
    { simulator: 'payment-gateway', failureRate: 0, latencyMs: 0, timeoutMs: TIMEOUT_MS, changedAt: null },
    { simulator: 'carrier', failureRate: 0, delayMs: 5_000, changedAt: null },
  ];

  it('changes the simulators in place, answers the settings in force and records the operator action', async () => {
    expect(await list()).toEqual(initialView);

    const changed = await put('payment-gateway', { failureRate: 1 });
    expect(changed.statusCode).toBe(200);
    const answer = changed.json<{ changedAt: string }>();
    expect(answer).toEqual({
      simulator: 'payment-gateway',
      failureRate: 1,
      latencyMs: 0,
      timeoutMs: TIMEOUT_MS,
      changedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    });
    expect(gateway.settings()).toEqual({ failureRate: 1, latencyMs: 0, timeoutMs: TIMEOUT_MS });
    await expect(
      gateway.authorize({
        idempotencyKey: 'pay-1:authorize',
        amount: 100,
        currency: 'EUR',
        token: 'tok_visa',
      }),
    ).rejects.toMatchObject({ code: 'GATEWAY_UNAVAILABLE' });

    const slower = await put('carrier', { delayMs: 0, failureRate: 0.25 });
    expect(slower.json()).toMatchObject({ simulator: 'carrier', failureRate: 0.25, delayMs: 0 });
    expect(carrier.delayMs()).toBe(0);
    expect(carrier.settings()).toEqual({ failureRate: 0.25, delayMs: 0 });
    expect(await list()).toEqual([answer, slower.json()]);

    const [event] = await store.readStream(simulatorSettingsStreamId('payment-gateway'));
    expect(event).toMatchObject({
      type: SIMULATOR_SETTINGS_CHANGED,
      data: {
        simulator: 'payment-gateway',
        settings: { failureRate: 1, latencyMs: 0 },
        previous: { failureRate: 0, latencyMs: 0 },
      },
    });
    expect((await readOperatorActions(store)).map(({ kind, text }) => ({ kind, text }))).toEqual([
      { kind: 'simulator_changed', text: 'payment-gateway simulator: failureRate 0 → 1, latencyMs 0 → 0' },
      { kind: 'simulator_changed', text: 'carrier simulator: failureRate 0 → 0.25, delayMs 5000 → 0' },
    ]);

    // A follower that starts later (a restart, another process) starts from what was stored.
    const later = createSimulatorSettingsFollower({ store, initial: INITIAL });
    await later.start();
    expect(later.current('payment-gateway')).toMatchObject({ settings: { failureRate: 1, latencyMs: 0 } });
    expect(later.current('carrier')).toMatchObject({ settings: { failureRate: 0.25, delayMs: 0 } });
    await later.stop();
  });

  it('a follower on another connection, which hears of no commits, applies a change by polling', async () => {
    const database = openSqliteDatabase({ filename: path.join(dir, 'orderflow.db') });
    const elsewhere = createSqliteEventStore({ database, outbox: createSqliteOutbox(database) });
    const other = createSimulatorSettingsFollower({ store: elsewhere, initial: INITIAL, pollIntervalMs: 50 });
    const seen: number[] = [];
    other.onChange('carrier', (settings) => seen.push(settings.delayMs));
    await other.start();
    try {
      expect((await put('carrier', { delayMs: 42 })).statusCode).toBe(200);
      await expect.poll(() => seen, { timeout: 2_000, interval: 10 }).toEqual([42]);
      expect(other.current('carrier')).toMatchObject({ settings: { delayMs: 42, failureRate: 0 } });
    } finally {
      await other.stop();
      await elsewhere.close();
    }
  });

  it('refuses bad bodies with 422 and a precise message, and changes nothing', async () => {
    const refusals: [string, Record<string, unknown>, string][] = [
      ['payment-gateway', { failureRate: 1.5 }, '/failureRate must be at most 1'],
      ['payment-gateway', { failureRate: -0.1 }, '/failureRate must be at least 0'],
      ['payment-gateway', { latencyMs: TIMEOUT_MS }, `/latencyMs must be at most ${TIMEOUT_MS - 1}`],
      ['payment-gateway', { latencyMs: 'slow' }, '/latencyMs must be an integer'],
      ['payment-gateway', {}, '/ must set at least one of failureRate, latencyMs'],
      ['payment-gateway', { failureRate: 0.5, delayMs: 10 }, '/delayMs is not allowed'],
      ['carrier', { delayMs: 86_400_001 }, '/delayMs must be at most 86400000'],
      ['carrier', { latencyMs: 10 }, '/latencyMs is not allowed'],
      ['carrier', {}, '/ must set at least one of failureRate, delayMs'],
    ];
    for (const [simulator, body, message] of refusals) {
      const response = await put(simulator, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(422);
      const problem = response.json<ProblemDetails>();
      expect(problem).toMatchObject({ code: 'VALIDATION_FAILED', status: 422 });
      expect(problem.detail).toBe(`the request body is invalid: ${message}`);
    }
    expect((await put('payment-gateway', [])).statusCode).toBe(422);
    const anonymous = await http.inject({
      method: 'PUT',
      url: '/v1/admin/simulators/carrier',
      payload: { delayMs: 1 },
    });
    expect(anonymous.statusCode).toBe(401);

    expect(await list()).toEqual(initialView);
    expect(gateway.settings()).toEqual({ failureRate: 0, latencyMs: 0, timeoutMs: TIMEOUT_MS });
    expect(carrier.settings()).toEqual({ failureRate: 0, delayMs: 5_000 });
    expect(await store.streamVersion(simulatorSettingsStreamId('payment-gateway'))).toBe(-1);
    expect(await store.streamVersion(simulatorSettingsStreamId('carrier'))).toBe(-1);
    expect(await readOperatorActions(store)).toEqual([]);
  });
});

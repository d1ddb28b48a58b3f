import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../kernel/errors.ts';
import {
  createSimulatedGateway,
  type SimulatedGateway,
  type SimulatedGatewayOptions,
} from './payment-gateway-simulator.ts';
import {
  GatewayRequestRefusedError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  gatewayKeys,
} from '../contexts/payments/payment-gateway.ts';

describe('payment gateway simulator (SQLite ledger on a temp file)', () => {
  let dir: string;
  let file: string;
  let gateways: SimulatedGateway[];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-gateway-'));
    file = path.join(dir, 'simulators', 'payment-gateway.db');
    gateways = [];
  });

  afterEach(async () => {
    for (const gateway of gateways) await gateway.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function open(options: Partial<SimulatedGatewayOptions> = {}): SimulatedGateway {
    const gateway = createSimulatedGateway({ file, timeoutMs: 200, ...options });
    gateways.push(gateway);
    return gateway;
  }

  const authorize = (gateway: SimulatedGateway, token: string, payment = 'p1', attempt = 1, amount = 2500) =>
    gateway.authorize({
      idempotencyKey: gatewayKeys.authorize(payment, attempt),
      amount,
      currency: 'USD',
      token,
    });

  it('keeps its ledger in its own file, creating the directory', async () => {
    const gateway = open();
    await authorize(gateway, 'tok_visa');
    expect(fs.existsSync(file)).toBe(true);
    expect(gateway.file).toBe(file);
  });

  describe('test tokens', () => {
    it('tok_visa approves with an authorization id', async () => {
      const result = await authorize(open(), 'tok_visa');
      expect(result).toEqual({
        outcome: 'approved',
        authorizationId: expect.stringMatching(/^auth_[0-9a-f]{32}$/),
      });
    });

    it('tok_declined declines with card_declined', async () => {
      expect(await authorize(open(), 'tok_declined')).toEqual({
        outcome: 'declined',
        code: 'card_declined',
        detail: expect.any(String),
      });
    });

    it('tok_risky approves at the gateway (the fraud rules catch it before)', async () => {
      expect((await authorize(open(), 'tok_risky')).outcome).toBe('approved');
    });

    it('an unknown token declines with invalid_token', async () => {
      expect(await authorize(open(), 'tok_mastercard')).toMatchObject({
        outcome: 'declined',
        code: 'invalid_token',
      });
      expect(await authorize(open(), 'visa', 'p2')).toMatchObject({
        outcome: 'declined',
        code: 'invalid_token',
      });
    });

    it('a suffix after a dot is a distinct card with the same behaviour', async () => {
      const gateway = open();
      const a = await authorize(gateway, 'tok_visa.4242', 'p1');
      const b = await authorize(gateway, 'tok_visa.cust-17', 'p2');
      expect(a.outcome).toBe('approved');
      expect(b.outcome).toBe('approved');
      expect(a).not.toEqual(b);
      expect(await authorize(gateway, 'tok_declined.1', 'p3')).toMatchObject({ code: 'card_declined' });
      await expect(authorize(gateway, 'tok_timeout.9', 'p4')).rejects.toBeInstanceOf(GatewayTimeoutError);
      expect(gateway.operations('p1')[0]).toMatchObject({ token: 'tok_visa.4242', outcome: 'approved' });
    });

    it('tok_timeout times out on the first authorization of a payment after timeoutMs, recorded, then approves the next attempt', async () => {
      const gateway = open({ timeoutMs: 150 });
      const started = performance.now();
      const error = await authorize(gateway, 'tok_timeout', 'p1', 1).catch((e: unknown) => e);
      expect(performance.now() - started).toBeGreaterThanOrEqual(145);
      expect(error).toBeInstanceOf(GatewayTimeoutError);
      expect((error as GatewayTimeoutError).code).toBe(ERROR_CODES.GATEWAY_TIMEOUT);
      expect((error as GatewayTimeoutError).retryable).toBe(true);
      expect((error as GatewayTimeoutError).timeoutMs).toBe(150);

      // The same key answers its first result again: a timeout, and nothing new in the ledger.
      await expect(authorize(gateway, 'tok_timeout', 'p1', 1)).rejects.toBeInstanceOf(GatewayTimeoutError);
      expect(await authorize(gateway, 'tok_timeout', 'p1', 2)).toMatchObject({ outcome: 'approved' });
      expect(gateway.operations('p1').map((op) => [op.idempotencyKey, op.outcome])).toEqual([
        ['p1:authorize:1', 'timed_out'],
        ['p1:authorize:2', 'approved'],
      ]);
      // Another payment with the same card times out on its own first authorization.
      await expect(authorize(gateway, 'tok_timeout', 'p2', 1)).rejects.toBeInstanceOf(GatewayTimeoutError);
    });
  });

  describe('idempotency keys', () => {
    it('the same key returns the first result and records one operation', async () => {
      const gateway = open();
      const [first, second] = await Promise.all([
        authorize(gateway, 'tok_visa'),
        authorize(gateway, 'tok_visa'),
      ]);
      const third = await authorize(gateway, 'tok_visa');
      expect(second).toEqual(first);
      expect(third).toEqual(first);
      expect(gateway.ledgerStats().authorizations).toEqual({ approved: 1, declined: 0, timedOut: 0 });
    });

    it('never captures twice under one key, concurrently or later', async () => {
      const gateway = open();
      const auth = await authorize(gateway, 'tok_visa');
      if (auth.outcome !== 'approved') throw new Error('expected an approval');
      const capture = () =>
        gateway.capture({
          idempotencyKey: gatewayKeys.capture('p1'),
          authorizationId: auth.authorizationId,
          amount: 2500,
        });
      const results = await Promise.all([capture(), capture(), capture()]);
      const later = await capture();
      expect(new Set([...results, later].map((r) => r.captureId)).size).toBe(1);
      expect(gateway.ledgerStats()).toMatchObject({
        captures: 1,
        capturedAmount: 2500,
        paymentsCapturedMoreThanOnce: 0,
      });
    });

    it('refuses a key reused for a different request', async () => {
      const gateway = open();
      await authorize(gateway, 'tok_visa', 'p1', 1, 2500);
      const error = await authorize(gateway, 'tok_visa', 'p1', 1, 9999).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GatewayRequestRefusedError);
      expect((error as GatewayRequestRefusedError).retryable).toBe(false);
      expect(gateway.ledgerStats().operations).toBe(1);
    });
  });

  describe('capture, void and refund', () => {
    async function approved(gateway: SimulatedGateway, payment: string): Promise<string> {
      const result = await authorize(gateway, 'tok_visa', payment);
      if (result.outcome !== 'approved') throw new Error('expected an approval');
      return result.authorizationId;
    }

    it('captures, refunds up to what was captured, and counts the money', async () => {
      const gateway = open();
      const authorizationId = await approved(gateway, 'p1');
      const { captureId } = await gateway.capture({
        idempotencyKey: 'p1:capture',
        authorizationId,
        amount: 2500,
      });
      const { refundId } = await gateway.refund({ idempotencyKey: 'p1:refund:1', captureId, amount: 1000 });
      expect(refundId).toMatch(/^ref_/);
      await expect(
        gateway.refund({ idempotencyKey: 'p1:refund:2', captureId, amount: 1501 }),
      ).rejects.toBeInstanceOf(GatewayRequestRefusedError);
      await gateway.refund({ idempotencyKey: 'p1:refund:2', captureId, amount: 1500 });
      expect(gateway.ledgerStats()).toMatchObject({
        captures: 1,
        capturedAmount: 2500,
        refunds: 2,
        refundedAmount: 2500,
      });
      expect(gateway.operations('p1').map((op) => op.kind)).toEqual([
        'authorize',
        'capture',
        'refund',
        'refund',
      ]);
    });

    it('voids an authorization, and then refuses to capture it', async () => {
      const gateway = open();
      const authorizationId = await approved(gateway, 'p1');
      await gateway.void({ idempotencyKey: 'p1:void', authorizationId });
      await gateway.void({ idempotencyKey: 'p1:void', authorizationId });
      await expect(
        gateway.capture({ idempotencyKey: 'p1:capture', authorizationId, amount: 1 }),
      ).rejects.toBeInstanceOf(GatewayRequestRefusedError);
      expect(gateway.ledgerStats()).toMatchObject({ voids: 1, captures: 0 });
      expect(gateway.operations('p1')[1]).toMatchObject({ kind: 'void', outcome: 'voided', amount: 2500 });
    });

    it('refuses to void a captured authorization, to capture more than authorized, or an unknown authorization', async () => {
      const gateway = open();
      const authorizationId = await approved(gateway, 'p1');
      await expect(
        gateway.capture({ idempotencyKey: 'p1:capture', authorizationId, amount: 2501 }),
      ).rejects.toBeInstanceOf(GatewayRequestRefusedError);
      await gateway.capture({ idempotencyKey: 'p1:capture', authorizationId, amount: 2500 });
      await expect(gateway.void({ idempotencyKey: 'p1:void', authorizationId })).rejects.toBeInstanceOf(
        GatewayRequestRefusedError,
      );
      await expect(
        gateway.capture({ idempotencyKey: 'p2:capture', authorizationId: 'auth_nope', amount: 1 }),
      ).rejects.toBeInstanceOf(GatewayRequestRefusedError);
    });
  });

  describe('failures and latency', () => {
    it('failureRate 1 always answers unavailable, and nothing is recorded as money movement', async () => {
      const gateway = open({ failureRate: 1 });
      for (let attempt = 1; attempt <= 5; attempt++) {
        const error = await authorize(gateway, 'tok_visa', 'p1', attempt).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(GatewayUnavailableError);
        expect((error as GatewayUnavailableError).category).toBe('unavailable');
        expect((error as GatewayUnavailableError).retryable).toBe(true);
      }
      await expect(
        gateway.capture({ idempotencyKey: 'p1:capture', authorizationId: 'auth_x', amount: 1 }),
      ).rejects.toBeInstanceOf(GatewayUnavailableError);
      expect(gateway.ledgerStats().operations).toBe(0);
      expect(gateway.operations('p1')).toEqual([]);
    });

    it('fails the fraction of calls the random source picks', async () => {
      const draws = [0.1, 0.9, 0.2, 0.8];
      const gateway = open({ failureRate: 0.5, random: () => draws.shift() ?? 0.99 });
      const outcomes = await Promise.allSettled(
        [1, 2, 3, 4].map((n) => authorize(gateway, 'tok_visa', `p${n}`)),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
      expect(gateway.ledgerStats().authorizations.approved).toBe(2);
    });

    it('delays each call by latencyMs without blocking the others', async () => {
      const gateway = open({ latencyMs: 60, timeoutMs: 1000 });
      const started = performance.now();
      await authorize(gateway, 'tok_visa', 'p0');
      expect(performance.now() - started).toBeGreaterThanOrEqual(55);

      const concurrent = performance.now();
      await Promise.all(Array.from({ length: 10 }, (_, i) => authorize(gateway, 'tok_visa', `p${i + 1}`)));
      const elapsed = performance.now() - concurrent;
      expect(elapsed).toBeGreaterThanOrEqual(55);
      expect(elapsed).toBeLessThan(400);
    });

    it('refuses a latency that is not below the timeout, and calls after close', async () => {
      expect(() => createSimulatedGateway({ file, latencyMs: 200, timeoutMs: 200 })).toThrow(/latencyMs/);
      expect(() => createSimulatedGateway({ file, failureRate: 2 })).toThrow(/failureRate/);
      const gateway = createSimulatedGateway({ file });
      await gateway.close();
      await expect(authorize(gateway, 'tok_visa')).rejects.toBeInstanceOf(GatewayUnavailableError);
    });
  });

  it('its ledger survives a reopen: the same keys give the same answers and the counts stay', async () => {
    const first = createSimulatedGateway({ file, timeoutMs: 100 });
    const auth = await authorize(first, 'tok_visa', 'p1');
    if (auth.outcome !== 'approved') throw new Error('expected an approval');
    const { captureId } = await first.capture({
      idempotencyKey: 'p1:capture',
      authorizationId: auth.authorizationId,
      amount: 2500,
    });
    await authorize(first, 'tok_timeout', 'p2').catch(() => undefined);
    const before = first.ledgerStats();
    await first.close();

    const second = open({ timeoutMs: 100 });
    expect(second.ledgerStats()).toEqual(before);
    expect(await authorize(second, 'tok_visa', 'p1')).toEqual(auth);
    expect(
      await second.capture({
        idempotencyKey: 'p1:capture',
        authorizationId: auth.authorizationId,
        amount: 2500,
      }),
    ).toEqual({ captureId });
    // tok_timeout remembers that p2's first authorization already timed out.
    expect(await authorize(second, 'tok_timeout', 'p2', 2)).toMatchObject({ outcome: 'approved' });
    expect(second.ledgerStats()).toMatchObject({
      operations: 4,
      authorizations: { approved: 2, declined: 0, timedOut: 1 },
      captures: 1,
    });
  });

  it('two gateways on one ledger file decide a key once', async () => {
    const a = open();
    const b = open();
    const results = await Promise.all([
      authorize(a, 'tok_visa'),
      authorize(b, 'tok_visa'),
      authorize(a, 'tok_visa'),
    ]);
    expect(new Set(results.map((r) => (r.outcome === 'approved' ? r.authorizationId : '')))).toHaveProperty(
      'size',
      1,
    );
    expect(a.ledgerStats().authorizations.approved).toBe(1);
  });
});

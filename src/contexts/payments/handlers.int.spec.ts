import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedAdapters, type EmbeddedAdapters } from '../../app/embedded-adapters.ts';
import type { StoredEvent } from '../../event-store/index.ts';
import {
  createConsumer,
  createEnvelope,
  MessageCatalog,
  type Consumer,
  type Envelope,
  type HandlerContext,
  type TransportSubscription,
} from '../../messaging/index.ts';
import type { FraudRulesConfig } from './domain/fraud-rules.ts';
import {
  AssessFraud,
  AuthorizePayment,
  CapturePayment,
  FraudAssessed,
  PAYMENT_MESSAGES,
  PAYMENT_GATEWAY_UNAVAILABLE,
  PaymentAuthorized,
  PaymentCaptured,
  PaymentDeclined,
  PaymentRefunded,
  PaymentTimedOut,
  PaymentVoided,
  RefundPayment,
  VoidPayment,
  type AssessFraudData,
  type AuthorizePaymentData,
  type FraudAssessedData,
} from './messages.ts';
import { paymentStreamId } from './domain/payment.ts';
import { customerVelocityStreamId, tokenVelocityStreamId } from './domain/velocity.ts';
import { createSimulatedGateway, type SimulatedGateway } from '../../simulators/payment-gateway-simulator.ts';
import { paymentsHandlers } from './handlers.ts';
import { GatewayUnavailableError, type PaymentGateway } from './payment-gateway.ts';

const FRAUD: FraudRulesConfig = {
  threshold: 70,
  amountReview: 200_000,
  velocityWindowMs: 600_000,
  velocityLimit: 2,
};
const REPLY_TYPES = [
  FraudAssessed.type,
  PaymentAuthorized.type,
  PaymentDeclined.type,
  PaymentTimedOut.type,
  PaymentCaptured.type,
  PaymentVoided.type,
  PaymentRefunded.type,
];
const catalog = new MessageCatalog().register(...PAYMENT_MESSAGES);
/** The embedded bus delivers within milliseconds: look often, give up after 10 s. */
const POLL = { timeout: 10_000, interval: 5 };
/** The source of the marker messages absence checks wait for (see `repliesSettled`). */
const MARKER_SOURCE = 'orderflow/test-marker';

interface System {
  adapters: EmbeddedAdapters;
  gateway: SimulatedGateway;
  consumer: Consumer;
  /** Every reply delivered to a stand-in saga group, re-sent ones included (no inbox here), markers left out. */
  replies: Envelope[];
  /** Ids of the markers the stand-in saga group received. */
  markers: Set<string>;
  recorder: TransportSubscription;
  /** Gateway calls the handlers made (the simulator's ledger counts what it recorded). */
  gatewayCalls: string[];
}

describe('payments handlers (SQLite store, embedded transport, payments consumer, gateway simulator)', () => {
  let dir: string;
  let system: System;
  let orderNo = 0;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-payments-'));
    system = await openSystem();
  });

  afterEach(async () => {
    await closeSystem(system);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The gateway the handlers see: the simulator, with `wrap` to play an outside failure. */
  async function openSystem(
    options: { wrap?: (gateway: PaymentGateway) => PaymentGateway; timeoutMs?: number } = {},
  ): Promise<System> {
    const adapters = createEmbeddedAdapters({
      file: path.join(dir, 'orderflow.db'),
      synchronous: 'NORMAL',
      partitions: 4,
    });
    await adapters.transport.start();
    const gateway = createSimulatedGateway({
      file: path.join(dir, 'simulators', 'payment-gateway.db'),
      timeoutMs: options.timeoutMs ?? 100,
    });
    const gatewayCalls: string[] = [];
    const counted = countingGateway(gateway, gatewayCalls);
    const seen = options.wrap?.(counted) ?? counted;
    const consumer = createConsumer({
      group: paymentsHandlers({
        store: adapters.store,
        gateway: () => seen,
        fraud: FRAUD,
        retry: { initialDelayMs: 5, maxDelayMs: 20, jitter: 0 },
      }),
      transport: adapters.transport,
      store: adapters.store,
      deadLetters: adapters.deadLetters,
      catalog,
      source: 'orderflow/payments',
    });
    await consumer.start();
    const replies: Envelope[] = [];
    const markers = new Set<string>();
    const recorder = await adapters.transport.subscribe({
      group: 'saga-stand-in',
      types: REPLY_TYPES,
      onDelivery: (delivery) => {
        if (delivery.message.source === MARKER_SOURCE) markers.add(delivery.message.id);
        else replies.push(delivery.message);
        delivery.ack();
      },
    });
    return { adapters, gateway, consumer, replies, markers, recorder, gatewayCalls };
  }

  async function closeSystem(current: System): Promise<void> {
    await current.consumer.stop();
    await current.recorder.stop();
    await current.adapters.transport.close();
    await current.adapters.store.close();
    await current.gateway.close();
  }

  function newOrder(): { orderId: string; paymentId: string } {
    orderNo++;
    const orderId = `order-${orderNo}-${Math.random().toString(36).slice(2, 8)}`;
    return { orderId, paymentId: `${orderId}:payment` };
  }

  function command<T>(type: string, data: T & { orderId: string }): Envelope<T> {
    return createEnvelope({ type, data, correlationId: data.orderId }, { source: 'orderflow/saga' });
  }

  async function send(...messages: Envelope[]): Promise<void> {
    await system.adapters.store.commit({ messages });
  }

  function authorizeCommand(
    order: { orderId: string; paymentId: string },
    token = 'tok_visa',
    attempt = 1,
  ): Envelope<AuthorizePaymentData> {
    return command(AuthorizePayment.type, {
      ...order,
      amount: 2500,
      currency: 'USD',
      paymentToken: token,
      attempt,
    });
  }

  function assessCommand(
    orderId: string,
    overrides: Partial<AssessFraudData> = {},
  ): Envelope<AssessFraudData> {
    return command(AssessFraud.type, {
      orderId,
      customerId: 'cust-1',
      region: 'NA' as const,
      shippingCountry: 'US',
      amount: 2500,
      currency: 'USD',
      paymentToken: 'tok_visa.1',
      ...overrides,
    });
  }

  const repliesFor = (orderId: string, type?: string) =>
    system.replies.filter((m) => m.correlationid === orderId && (type === undefined || m.type === type));

  async function replyFor(orderId: string, type: string, count = 1): Promise<Envelope> {
    await expect.poll(() => repliesFor(orderId, type).length, POLL).toBeGreaterThanOrEqual(count);
    return repliesFor(orderId, type)[count - 1]!;
  }

  /**
   * The positive signal an absence check waits for: a reply-typed marker on the order's key,
   * published after everything so far. The stand-in saga gets a partition's messages in publish
   * order, so once the marker is there, every reply committed for the order before it is too.
   */
  async function repliesSettled(orderId: string): Promise<void> {
    const marker = createEnvelope(
      { type: PaymentVoided.type, data: { orderId }, correlationId: orderId },
      { source: MARKER_SOURCE },
    );
    await send(marker);
    await expect.poll(() => system.markers.has(marker.id), POLL).toBe(true);
  }

  const paymentEvents = (orderId: string): Promise<StoredEvent[]> =>
    system.adapters.store.readStream(paymentStreamId(orderId));

  describe('AssessFraud', () => {
    it('records FraudAssessed with the score, decision, threshold and rules, and replies with it', async () => {
      const { orderId } = newOrder();
      await send(assessCommand(orderId, { paymentToken: 'tok_risky', shippingCountry: 'DE' }));
      const reply = await replyFor(orderId, FraudAssessed.type);
      const data = reply.data as FraudAssessedData;
      expect(data).toEqual({
        orderId,
        score: 125,
        decision: 'reject',
        threshold: 70,
        rules: [
          { rule: 'country_mismatch', points: 25, detail: expect.stringContaining('DE is in EU') },
          { rule: 'risky_token', points: 100, detail: expect.stringContaining('tok_risky') },
        ],
      });
      expect(reply.id).toBe(`${orderId}:FraudAssessed`);
      expect(reply.partitionkey).toBe(orderId);
      const events = await paymentEvents(orderId);
      expect(events.map((e) => [e.id, e.type])).toEqual([[reply.id, 'FraudAssessed']]);
      expect(events[0]!.data).toEqual(data);
      expect(events[0]!.metadata).toMatchObject({
        context: 'payments',
        correlationId: orderId,
        causationId: expect.any(String),
      });
    });

    it('answers a repeated assessment with the recorded one, counting the order once', async () => {
      const { orderId } = newOrder();
      await send(assessCommand(orderId));
      const first = await replyFor(orderId, FraudAssessed.type);
      await send(assessCommand(orderId));
      const second = await replyFor(orderId, FraudAssessed.type, 2);
      expect(second.id).toBe(first.id);
      expect(second.data).toEqual(first.data);
      expect(await paymentEvents(orderId)).toHaveLength(1);
      expect(await system.adapters.store.readStream(customerVelocityStreamId('cust-1'))).toHaveLength(1);
    });

    it("counts a customer's orders across orders, even when they are assessed concurrently", async () => {
      const customerId = `cust-${Math.random().toString(36).slice(2, 8)}`;
      const orders = Array.from({ length: 4 }, () => newOrder().orderId);
      // Each order its own card: only the customer rule can fire. All at once: some are assessed in
      // parallel, and the velocity stream's expected version makes the late ones count again.
      await send(
        ...orders.map((orderId, i) =>
          assessCommand(orderId, { customerId, paymentToken: `tok_visa.${customerId}-${i}` }),
        ),
      );
      for (const orderId of orders) await replyFor(orderId, FraudAssessed.type);

      const hits = orders.map(
        (orderId) => (repliesFor(orderId, FraudAssessed.type)[0]!.data as FraudAssessedData).rules,
      );
      const velocityHits = hits.flat().filter((hit) => hit.rule === 'customer_velocity');
      // Limit 2: the third order in the window scores 30, the fourth 40.
      expect(velocityHits.map((hit) => hit.points).sort()).toEqual([30, 40]);
      expect(velocityHits.map((hit) => hit.detail).sort()).toEqual([
        `3 orders by customer ${customerId} in the last 10 min (limit 2)`,
        `4 orders by customer ${customerId} in the last 10 min (limit 2)`,
      ]);
      expect(hits.flat().some((hit) => hit.rule === 'token_velocity')).toBe(false);
      expect(await system.adapters.store.readStream(customerVelocityStreamId(customerId))).toHaveLength(4);
    });

    it('counts a card across customers, per full token', async () => {
      const card = `tok_visa.${Math.random().toString(36).slice(2, 8)}`;
      const orders = Array.from({ length: 3 }, () => newOrder().orderId);
      for (const [i, orderId] of orders.entries()) {
        await send(assessCommand(orderId, { customerId: `c-${orderId}-${i}`, paymentToken: card }));
        await replyFor(orderId, FraudAssessed.type);
      }
      const last = repliesFor(orders[2]!, FraudAssessed.type)[0]!.data as FraudAssessedData;
      expect(last.rules).toEqual([
        {
          rule: 'token_velocity',
          points: 40,
          detail: expect.stringContaining(`3 orders paid with card ${card}`),
        },
      ]);
      expect(await system.adapters.store.readStream(tokenVelocityStreamId(card))).toHaveLength(3);
      // Another card of the same family is another card.
      const other = newOrder().orderId;
      await send(assessCommand(other, { customerId: 'c-other', paymentToken: `${card}x` }));
      expect(((await replyFor(other, FraudAssessed.type)).data as FraudAssessedData).rules).toEqual([]);
    });
  });

  describe('AuthorizePayment', () => {
    it('authorizes through the gateway: PaymentAuthorized event and reply, one authorization in the ledger', async () => {
      const order = newOrder();
      await send(authorizeCommand(order));
      const reply = await replyFor(order.orderId, PaymentAuthorized.type);
      expect(reply.id).toBe(`${order.paymentId}:authorize:1:PaymentAuthorized`);
      expect(reply.data).toEqual({
        orderId: order.orderId,
        paymentId: order.paymentId,
        authorizationId: expect.stringMatching(/^auth_/),
        amount: 2500,
        currency: 'USD',
      });
      const events = await paymentEvents(order.orderId);
      expect(events.map((e) => e.type)).toEqual(['PaymentAuthorized']);
      expect(events[0]!.data).toEqual(reply.data);
      expect(events[0]!.metadata).toMatchObject({ context: 'payments', attempt: 1 });
      expect(system.gateway.operations(order.paymentId)).toMatchObject([
        {
          idempotencyKey: `${order.paymentId}:authorize:1`,
          outcome: 'approved',
          amount: 2500,
          reference: (reply.data as { authorizationId: string }).authorizationId,
        },
      ]);
    });

    it('records a decline as PaymentDeclined', async () => {
      const order = newOrder();
      await send(authorizeCommand(order, 'tok_declined.7'));
      const reply = await replyFor(order.orderId, PaymentDeclined.type);
      expect(reply.data).toEqual({
        orderId: order.orderId,
        paymentId: order.paymentId,
        code: 'card_declined',
        detail: expect.any(String),
      });
      expect((await paymentEvents(order.orderId)).map((e) => e.type)).toEqual(['PaymentDeclined']);
    });

    it('records a timeout as PaymentTimedOut; attempt 2 is approved', async () => {
      const order = newOrder();
      await send(authorizeCommand(order, 'tok_timeout', 1));
      const timedOut = await replyFor(order.orderId, PaymentTimedOut.type);
      expect(timedOut.data).toEqual({
        orderId: order.orderId,
        paymentId: order.paymentId,
        attempt: 1,
        timeoutMs: 100,
      });
      expect(timedOut.id).toBe(`${order.paymentId}:authorize:1:PaymentTimedOut`);

      await send(authorizeCommand(order, 'tok_timeout', 2));
      const authorized = await replyFor(order.orderId, PaymentAuthorized.type);
      expect(authorized.id).toBe(`${order.paymentId}:authorize:2:PaymentAuthorized`);
      expect((await paymentEvents(order.orderId)).map((e) => [e.type, e.metadata.attempt])).toEqual([
        ['PaymentTimedOut', 1],
        ['PaymentAuthorized', 2],
      ]);
      expect(system.gateway.operations(order.paymentId).map((op) => op.outcome)).toEqual([
        'timed_out',
        'approved',
      ]);
    });

    it('answers a repeated command for a decided attempt with the recorded reply, without calling the gateway', async () => {
      const order = newOrder();
      await send(authorizeCommand(order));
      const first = await replyFor(order.orderId, PaymentAuthorized.type);
      await send(authorizeCommand(order)); // same attempt, a new message id
      await send(authorizeCommand(order, 'tok_visa', 2)); // a later attempt after approval
      const third = await replyFor(order.orderId, PaymentAuthorized.type, 3);
      const second = repliesFor(order.orderId, PaymentAuthorized.type)[1]!;
      expect([second.id, third.id]).toEqual([first.id, first.id]);
      expect(third.data).toEqual(first.data);
      expect(system.gatewayCalls).toEqual([`authorize ${order.paymentId}:authorize:1`]);
      expect(await paymentEvents(order.orderId)).toHaveLength(1);
    });

    it('retries while the gateway is unavailable, then authorizes once', async () => {
      await closeSystem(system);
      let failures = 2;
      system = await openSystem({
        wrap: (gateway) => ({
          ...bind(gateway),
          authorize: async (request) => {
            if (failures-- > 0) throw new GatewayUnavailableError('simulated outage');
            return gateway.authorize(request);
          },
        }),
      });
      const order = newOrder();
      await send(authorizeCommand(order));
      await replyFor(order.orderId, PaymentAuthorized.type);
      expect(system.gateway.ledgerStats().authorizations.approved).toBe(1);
      // Each outage is a recorded fact (for the availability KPI), then the authorization itself.
      const events = await paymentEvents(order.orderId);
      expect(events.map((event) => event.type)).toEqual([
        PAYMENT_GATEWAY_UNAVAILABLE,
        PAYMENT_GATEWAY_UNAVAILABLE,
        'PaymentAuthorized',
      ]);
      for (const event of events.slice(0, 2)) {
        expect(event.data).toEqual({
          orderId: order.orderId,
          paymentId: order.paymentId,
          attempt: 1,
          error: 'simulated outage',
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
        });
        expect(event.metadata.correlationId).toBe(order.orderId);
      }
    });
  });

  describe('guarantee 2: a crash between the gateway call and the commit does not charge twice', () => {
    it('a handler that fails after the gateway answered is retried with the same key: one authorization', async () => {
      await closeSystem(system);
      let crashes = 1;
      const answers: unknown[] = [];
      system = await openSystem({
        wrap: (gateway) => ({
          ...bind(gateway),
          authorize: async (request) => {
            const result = await gateway.authorize(request);
            answers.push(result);
            // The process "dies" after the provider answered and before the commit recorded it.
            if (crashes-- > 0) throw new Error('crash after the gateway call');
            return result;
          },
        }),
      });
      const order = newOrder();
      await send(authorizeCommand(order));
      const reply = await replyFor(order.orderId, PaymentAuthorized.type);
      expect(answers).toHaveLength(2);
      expect(answers[1]).toEqual(answers[0]);
      expect((reply.data as { authorizationId: string }).authorizationId).toBe(
        (answers[0] as { authorizationId: string }).authorizationId,
      );
      expect(system.gateway.operations(order.paymentId)).toHaveLength(1);
      expect(system.gateway.ledgerStats().authorizations.approved).toBe(1);
    });

    it('effects lost with the process (store and gateway reopened) are redone without a second charge', async () => {
      const order = newOrder();
      await send(authorizeCommand(order));
      const auth = await replyFor(order.orderId, PaymentAuthorized.type);
      const authorizationId = (auth.data as { authorizationId: string }).authorizationId;

      // Run the capture handler by hand and drop its effects: the gateway captured, nothing committed.
      const capture = command(CapturePayment.type, { ...order, amount: 2500 });
      const handlers = paymentsHandlers({
        store: system.adapters.store,
        gateway: () => system.gateway,
        fraud: FRAUD,
      });
      const lost: unknown[] = [];
      await handlers.handlers[CapturePayment.type]!(capture as never, droppedContext(capture, system, lost));
      expect(lost).toHaveLength(2); // the event and the reply that a crash lost
      expect(system.gateway.ledgerStats().captures).toBe(1);
      const firstCaptureId = system.gateway
        .operations(order.paymentId)
        .find((op) => op.kind === 'capture')!.reference;

      // Crash: everything closes; then Orderflow and the provider come back on the same files.
      await closeSystem(system);
      system = await openSystem();
      await send(capture);
      const captured = await replyFor(order.orderId, PaymentCaptured.type);
      expect(captured.data).toEqual({
        orderId: order.orderId,
        paymentId: order.paymentId,
        captureId: firstCaptureId,
        amount: 2500,
        currency: 'USD',
      });
      expect(
        system.gateway.operations(order.paymentId).map((op) => [op.kind, op.target ?? op.reference]),
      ).toEqual([
        ['authorize', authorizationId],
        ['capture', authorizationId],
      ]);
      expect(system.gateway.ledgerStats()).toMatchObject({ captures: 1, paymentsCapturedMoreThanOnce: 0 });
      expect((await paymentEvents(order.orderId)).map((e) => e.type)).toEqual([
        'PaymentAuthorized',
        'PaymentCaptured',
      ]);
    });
  });

  describe('CapturePayment, VoidPayment, RefundPayment', () => {
    async function authorized(): Promise<{ orderId: string; paymentId: string }> {
      const order = newOrder();
      await send(authorizeCommand(order));
      await replyFor(order.orderId, PaymentAuthorized.type);
      return order;
    }

    it('captures twice → one capture in the ledger, one PaymentCaptured event, the same reply twice', async () => {
      const order = await authorized();
      await send(command(CapturePayment.type, { ...order, amount: 2500 }));
      const first = await replyFor(order.orderId, PaymentCaptured.type);
      await send(command(CapturePayment.type, { ...order, amount: 2500 }));
      const second = await replyFor(order.orderId, PaymentCaptured.type, 2);
      expect(second.id).toBe(`${order.paymentId}:PaymentCaptured`);
      expect(second.id).toBe(first.id);
      expect(second.data).toEqual(first.data);
      expect(system.gateway.operations(order.paymentId).filter((op) => op.kind === 'capture')).toHaveLength(
        1,
      );
      expect((await paymentEvents(order.orderId)).filter((e) => e.type === 'PaymentCaptured')).toHaveLength(
        1,
      );
    });

    it('voids an authorization once, and voids nothing with amount 0 without the gateway', async () => {
      const order = await authorized();
      await send(command(VoidPayment.type, order));
      const voided = await replyFor(order.orderId, PaymentVoided.type);
      expect(voided.data).toEqual({ ...order, amount: 2500 });
      await send(command(VoidPayment.type, order));
      expect((await replyFor(order.orderId, PaymentVoided.type, 2)).id).toBe(voided.id);
      expect(system.gateway.operations(order.paymentId).map((op) => op.kind)).toEqual(['authorize', 'void']);
      expect((await paymentEvents(order.orderId)).map((e) => e.type)).toEqual([
        'PaymentAuthorized',
        'PaymentVoided',
      ]);

      const nothing = newOrder();
      await send(command(VoidPayment.type, nothing));
      expect((await replyFor(nothing.orderId, PaymentVoided.type)).data).toEqual({ ...nothing, amount: 0 });
      expect(system.gateway.operations(nothing.paymentId)).toEqual([]);
      // An authorization arriving after the void is declined, not held.
      await send(authorizeCommand(nothing));
      expect((await replyFor(nothing.orderId, PaymentDeclined.type)).data).toMatchObject({
        code: 'payment_voided',
      });
      expect(system.gateway.operations(nothing.paymentId)).toEqual([]);
    });

    it('refunds a captured payment', async () => {
      const order = await authorized();
      await send(command(CapturePayment.type, { ...order, amount: 2500 }));
      const captured = await replyFor(order.orderId, PaymentCaptured.type);
      await send(command(RefundPayment.type, { ...order, amount: 2500, reason: 'customer_request' }));
      const refunded = await replyFor(order.orderId, PaymentRefunded.type);
      expect(refunded.data).toEqual({ ...order, refundId: expect.stringMatching(/^ref_/), amount: 2500 });
      const refundOp = system.gateway.operations(order.paymentId).find((op) => op.kind === 'refund')!;
      expect(refundOp.target).toBe((captured.data as { captureId: string }).captureId);
      expect(system.gateway.ledgerStats()).toMatchObject({ refunds: 1, refundedAmount: 2500 });
    });

    it("dead-letters a capture that breaks the payment's rules (nothing authorized), and calls no gateway", async () => {
      const order = newOrder();
      await send(command(CapturePayment.type, { ...order, amount: 2500 }));
      await expect
        .poll(
          async () =>
            (await system.adapters.deadLetters.list({})).some(
              (d) => d.message.correlationid === order.orderId,
            ),
          POLL,
        )
        .toBe(true);
      await repliesSettled(order.orderId);
      expect(repliesFor(order.orderId)).toEqual([]);
      expect(system.gatewayCalls).toEqual([]);
    });
  });
});

/** Counts the calls the handlers make, passing them to the simulator. */
function countingGateway(gateway: PaymentGateway, calls: string[]): PaymentGateway {
  return {
    authorize: (request) => (calls.push(`authorize ${request.idempotencyKey}`), gateway.authorize(request)),
    capture: (request) => (calls.push(`capture ${request.idempotencyKey}`), gateway.capture(request)),
    void: (request) => (calls.push(`void ${request.idempotencyKey}`), gateway.void(request)),
    refund: (request) => (calls.push(`refund ${request.idempotencyKey}`), gateway.refund(request)),
    close: () => gateway.close(),
  };
}

function bind(gateway: PaymentGateway): PaymentGateway {
  return {
    authorize: (request) => gateway.authorize(request),
    capture: (request) => gateway.capture(request),
    void: (request) => gateway.void(request),
    refund: (request) => gateway.refund(request),
    close: () => gateway.close(),
  };
}

/** A handler context whose effects are collected and never committed: what a crash loses. */
function droppedContext(message: Envelope, system: System, lost: unknown[]): HandlerContext {
  return {
    message,
    deliveryCount: 1,
    group: 'payments',
    store: system.adapters.store,
    append: (_stream, events) => lost.push(...events),
    send: (reply) => lost.push(reply),
    schedule: (reply) => lost.push(reply),
    cancelScheduled: (id) => lost.push(id),
    now: () => new Date(),
  };
}

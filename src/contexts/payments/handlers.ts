import { createAggregateLoader, type EventStore, type NewEvent } from '../../event-store/index.ts';
import type { Envelope, HandlerContext, HandlerGroup, RetryPolicyOptions } from '../../messaging/index.ts';
import { TerminalError } from '../../kernel/errors.ts';
import { assessFraud, velocityMemory, type FraudRulesConfig } from './domain/fraud-rules.ts';
import {
  AssessFraud,
  AuthorizePayment,
  CapturePayment,
  RefundPayment,
  PAYMENT_GATEWAY_UNAVAILABLE,
  VoidPayment,
  type AssessFraudData,
  type AuthorizePaymentData,
  type CapturePaymentData,
  type PaymentGatewayUnavailableData,
  type RefundPaymentData,
  type VoidPaymentData,
} from './messages.ts';
import {
  authorizationFact,
  capturedFact,
  decideAssessFraud,
  decideAuthorize,
  decideCapture,
  decideRefund,
  decideVoid,
  evolvePayment,
  fraudAssessedFact,
  INITIAL_PAYMENT,
  paymentStreamId,
  refundedFact,
  REPLY_TYPES,
  voidedFact,
  type PaymentDecision,
  type PaymentFact,
} from './domain/payment.ts';
import {
  customerVelocityStreamId,
  EMPTY_VELOCITY,
  evolveVelocity,
  ordersInWindow,
  tokenVelocityStreamId,
  velocityRecorded,
} from './domain/velocity.ts';
import {
  GatewayUnavailableError,
  isGatewayTimeoutError,
  type AuthorizeResult,
  type PaymentGateway,
} from './payment-gateway.ts';

export const PAYMENTS_GROUP = 'payments';

/**
 * The payments group's retry policy: short, well-jittered first delays, because version conflicts on
 * a busy customer's or card's velocity stream clear fast; and enough attempts (about 40 s of retries
 * in all, past the saga's default step timeout) to outlast a gateway blip.
 */
export const PAYMENTS_RETRY: Partial<RetryPolicyOptions> = {
  maxAttempts: 12,
  initialDelayMs: 20,
  maxDelayMs: 30_000,
  jitter: 0.5,
};

export interface PaymentsHandlersOptions {
  /** Reads the payment and velocity streams (through cached aggregate loaders). */
  store: EventStore;
  /** The payment provider, looked up at each call (the module opens it when it starts). */
  gateway: () => PaymentGateway;
  fraud: FraudRulesConfig;
  /** The group's retry policy. @default PAYMENTS_RETRY */
  retry?: Partial<RetryPolicyOptions>;
}

/**
 * The payments context's handlers (consumer group `payments`): fraud assessment and the gateway's
 * operations on the stream `payment-<orderId>`. Each handler loads the payment, decides with the
 * pure functions of domain/payment.ts, calls the gateway when the decision needs it, and records
 * the answer as one event plus one reply to the saga (same deterministic id).
 *
 * Effects happen once (guarantee 2): a redelivered message is dropped by the inbox; a repeated
 * command for something decided is answered with the recorded reply; and a crash between a gateway
 * call and the commit that records it repeats the call with the same idempotency key, which the
 * gateway answers with its first result instead of moving money again.
 *
 * A GatewayTimeoutError on an authorization is recorded as PaymentTimedOut (the saga decides whether
 * to retry with the next attempt); elsewhere it, and GatewayUnavailableError, are thrown for the
 * consumer to retry with backoff. A GatewayUnavailableError on an authorization is first recorded as
 * PaymentGatewayUnavailable in the payment's stream (no reply: the saga waits for the retry). A
 * command that breaks a payment's rules (capture after void, a capture without authorization) is a
 * TerminalError: dead-lettered and visible, never guessed at.
 */
export function paymentsHandlers(options: PaymentsHandlersOptions): HandlerGroup {
  const { store, fraud } = options;
  const payments = createAggregateLoader({ store, initial: () => INITIAL_PAYMENT, evolve: evolvePayment });
  const velocity = createAggregateLoader({
    store,
    initial: () => EMPTY_VELOCITY,
    evolve: evolveVelocity(fraud.velocityWindowMs, velocityMemory(fraud)),
  });

  async function onAssessFraud(message: Envelope<AssessFraudData>, context: HandlerContext): Promise<void> {
    const command = message.data;
    const stream = paymentStreamId(command.orderId);
    const payment = await payments.load(stream);
    const decision = decideAssessFraud(payment.state);
    if (decision.kind === 'reply') return reply(context, command.orderId, decision.fact);

    const customerStream = customerVelocityStreamId(command.customerId);
    const tokenStream = tokenVelocityStreamId(command.paymentToken);
    const [customer, token] = await Promise.all([velocity.load(customerStream), velocity.load(tokenStream)]);
    const now = context.now().getTime();
    const assessment = assessFraud(
      {
        customerId: command.customerId,
        region: command.region,
        shippingCountry: command.shippingCountry,
        amount: command.amount,
        currency: command.currency,
        paymentToken: command.paymentToken,
        customerOrdersInWindow: ordersInWindow(customer.state, now, fraud.velocityWindowMs) + 1,
        tokenOrdersInWindow: ordersInWindow(token.state, now, fraud.velocityWindowMs) + 1,
      },
      fraud,
    );
    record(context, command.orderId, payment.version, fraudAssessedFact(command.orderId, assessment));
    // Expected versions: two processes assessing orders of one customer (or card) at once cannot
    // both count without seeing each other; the loser is retried and counts again.
    context.append(customerStream, [velocityRecorded(command.orderId, now, 'customer')], customer.version);
    context.append(tokenStream, [velocityRecorded(command.orderId, now, 'token')], token.version);
  }

  async function onAuthorize(
    message: Envelope<AuthorizePaymentData>,
    context: HandlerContext,
  ): Promise<void> {
    const command = message.data;
    const payment = await payments.load(paymentStreamId(command.orderId));
    await carryOut(
      context,
      command.orderId,
      payment.version,
      decideAuthorize(payment.state, command),
      async (decision) => {
        let result: AuthorizeResult | { outcome: 'timed_out'; timeoutMs: number };
        try {
          result = await options.gateway().authorize({
            idempotencyKey: decision.idempotencyKey,
            amount: command.amount,
            currency: command.currency,
            token: command.paymentToken,
          });
        } catch (error) {
          if (error instanceof GatewayUnavailableError) await recordUnavailable(message, error, context);
          if (!isGatewayTimeoutError(error)) throw error;
          result = { outcome: 'timed_out', timeoutMs: error.timeoutMs };
        }
        return authorizationFact(command, result);
      },
    );
  }

  /**
   * The outage is a fact worth keeping (authorization availability is a KPI), but the unit of work
   * is discarded on throw: it is appended on its own, then the error goes on to the consumer's retry.
   */
  async function recordUnavailable(
    message: Envelope<AuthorizePaymentData>,
    error: GatewayUnavailableError,
    context: HandlerContext,
  ): Promise<void> {
    const { orderId, paymentId, attempt } = message.data;
    const data: PaymentGatewayUnavailableData = {
      orderId,
      paymentId,
      attempt,
      error: error.message,
      at: context.now().toISOString(),
    };
    await store.append(
      paymentStreamId(orderId),
      [
        {
          type: PAYMENT_GATEWAY_UNAVAILABLE,
          data,
          metadata: { correlationId: message.correlationid, causationId: message.id, context: 'payments' },
        },
      ],
      { expectedVersion: 'any' },
    );
  }

  async function onCapture(message: Envelope<CapturePaymentData>, context: HandlerContext): Promise<void> {
    const command = message.data;
    const payment = await payments.load(paymentStreamId(command.orderId));
    await carryOut(
      context,
      command.orderId,
      payment.version,
      decideCapture(payment.state, command),
      async (decision) => {
        const { captureId } = await options.gateway().capture({
          idempotencyKey: decision.idempotencyKey,
          authorizationId: decision.authorizationId,
          amount: command.amount,
        });
        return capturedFact(payment.state, command, captureId);
      },
    );
  }

  async function onVoid(message: Envelope<VoidPaymentData>, context: HandlerContext): Promise<void> {
    const command = message.data;
    const payment = await payments.load(paymentStreamId(command.orderId));
    await carryOut(
      context,
      command.orderId,
      payment.version,
      decideVoid(payment.state, command),
      async (decision) => {
        await options.gateway().void({
          idempotencyKey: decision.idempotencyKey,
          authorizationId: decision.authorizationId,
        });
        return voidedFact(command, payment.state.authorization?.data.amount ?? 0);
      },
    );
  }

  async function onRefund(message: Envelope<RefundPaymentData>, context: HandlerContext): Promise<void> {
    const command = message.data;
    const payment = await payments.load(paymentStreamId(command.orderId));
    await carryOut(
      context,
      command.orderId,
      payment.version,
      decideRefund(payment.state, command),
      async (decision) => {
        const { refundId } = await options.gateway().refund({
          idempotencyKey: decision.idempotencyKey,
          captureId: decision.captureId,
          amount: command.amount,
        });
        return refundedFact(command, decision.sequence, refundId);
      },
    );
  }

  return {
    group: PAYMENTS_GROUP,
    handlers: {
      [AssessFraud.type]: onAssessFraud,
      [AuthorizePayment.type]: onAuthorize,
      [CapturePayment.type]: onCapture,
      [VoidPayment.type]: onVoid,
      [RefundPayment.type]: onRefund,
    },
    retry: options.retry ?? PAYMENTS_RETRY,
  };
}

/** Records a new fact: one event in the payment's stream (expected version checked) and its reply. */
/**
 * Carries out a payment decision: re-send a recorded reply, record a new fact, refuse (dead letter),
 * or call the gateway and record its answer.
 */
async function carryOut<C>(
  context: HandlerContext,
  orderId: string,
  loadedVersion: number,
  decision: PaymentDecision<C>,
  call: (decision: { kind: 'call'; idempotencyKey: string } & C) => Promise<PaymentFact>,
): Promise<void> {
  switch (decision.kind) {
    case 'reply':
      return reply(context, orderId, decision.fact);
    case 'record':
      return record(context, orderId, loadedVersion, decision.fact);
    case 'refuse':
      throw new TerminalError(decision.reason);
    case 'call':
      return record(context, orderId, loadedVersion, await call(decision));
  }
}

function record(context: HandlerContext, orderId: string, loadedVersion: number, fact: PaymentFact): void {
  context.append(paymentStreamId(orderId), [toEvent(fact)], loadedVersion);
  reply(context, orderId, fact);
}

/** Sends a fact to the saga, with the fact's deterministic id: a re-sent reply is the same message. */
function reply(context: HandlerContext, orderId: string, fact: PaymentFact): void {
  context.send({
    type: REPLY_TYPES[fact.type],
    id: fact.id,
    data: fact.data,
    partitionKey: orderId,
    subject: orderId,
  });
}

function toEvent(fact: PaymentFact): NewEvent {
  return {
    id: fact.id,
    type: fact.type,
    data: fact.data,
    metadata: {
      context: 'payments',
      ...(fact.attempt !== undefined ? { attempt: fact.attempt } : {}),
      ...(fact.reason !== undefined ? { reason: fact.reason } : {}),
    },
  };
}

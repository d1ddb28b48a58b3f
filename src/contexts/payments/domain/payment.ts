import type { AuthorizeResult } from '../payment-gateway.ts';
import { gatewayKeys } from '../payment-gateway.ts';
import type { FraudAssessment } from './fraud-rules.ts';
import {
  FraudAssessed,
  PaymentAuthorized,
  PaymentCaptured,
  PaymentDeclined,
  PaymentRefunded,
  PaymentTimedOut,
  PaymentVoided,
  type AuthorizePaymentData,
  type CapturePaymentData,
  type FraudAssessedData,
  type PaymentAuthorizedData,
  type PaymentCapturedData,
  type PaymentDeclinedData,
  type PaymentRefundedData,
  type PaymentTimedOutData,
  type PaymentVoidedData,
  type RefundPaymentData,
  type VoidPaymentData,
} from '../messages.ts';

/**
 * A payment's state, folded from its stream `payment-<orderId>`, and the pure decisions on it.
 *
 * Every fact the payments context records is one event in that stream and one reply to the saga,
 * with the same deterministic id and the same data. A command asking for something already decided
 * (a repeated authorization attempt, a second capture, a repeated compensation) gets the recorded
 * fact back as its reply, with the same id, and records nothing new.
 */

export const PAYMENT_EVENT_TYPES = {
  FraudAssessed: 'FraudAssessed',
  PaymentAuthorized: 'PaymentAuthorized',
  PaymentDeclined: 'PaymentDeclined',
  PaymentTimedOut: 'PaymentTimedOut',
  PaymentCaptured: 'PaymentCaptured',
  PaymentVoided: 'PaymentVoided',
  PaymentRefunded: 'PaymentRefunded',
} as const;
export type PaymentEventType = (typeof PAYMENT_EVENT_TYPES)[keyof typeof PAYMENT_EVENT_TYPES];

/** The namespaced message type of each event's reply. */
export const REPLY_TYPES: Readonly<Record<PaymentEventType, string>> = {
  FraudAssessed: FraudAssessed.type,
  PaymentAuthorized: PaymentAuthorized.type,
  PaymentDeclined: PaymentDeclined.type,
  PaymentTimedOut: PaymentTimedOut.type,
  PaymentCaptured: PaymentCaptured.type,
  PaymentVoided: PaymentVoided.type,
  PaymentRefunded: PaymentRefunded.type,
};

export function paymentStreamId(orderId: string): string {
  return `payment-${orderId}`;
}

/** A recorded (or to be recorded) fact: the event, and the reply sent with the same id and data. */
export interface PaymentFact<T = unknown> {
  readonly id: string;
  readonly type: PaymentEventType;
  readonly data: T;
  /** Authorization facts: the attempt that decided them. */
  readonly attempt?: number;
  /** Refunds: the reason given. */
  readonly reason?: string;
}

export interface PaymentState {
  readonly fraud?: PaymentFact<FraudAssessedData>;
  /** The reply recorded for each authorization attempt. */
  readonly attempts: ReadonlyMap<number, PaymentFact>;
  readonly authorization?: PaymentFact<PaymentAuthorizedData>;
  readonly declined?: PaymentFact<PaymentDeclinedData>;
  readonly captured?: PaymentFact<PaymentCapturedData>;
  readonly voided?: PaymentFact<PaymentVoidedData>;
  readonly refunds: readonly PaymentFact<PaymentRefundedData>[];
}

export const INITIAL_PAYMENT: PaymentState = { attempts: new Map(), refunds: [] };

/** What evolve needs of an event: stored events and freshly decided facts both fit. */
export interface PaymentEventLike {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

export function evolvePayment(state: PaymentState, event: PaymentEventLike): PaymentState {
  const attempt = typeof event.metadata?.attempt === 'number' ? event.metadata.attempt : undefined;
  const fact = {
    id: event.id,
    type: event.type as PaymentEventType,
    data: event.data,
    ...(attempt !== undefined ? { attempt } : {}),
    ...(typeof event.metadata?.reason === 'string' ? { reason: event.metadata.reason } : {}),
  };
  const withAttempt = (next: PaymentState): PaymentState =>
    attempt === undefined ? next : { ...next, attempts: new Map(state.attempts).set(attempt, fact) };
  switch (event.type) {
    case PAYMENT_EVENT_TYPES.FraudAssessed:
      return { ...state, fraud: fact as PaymentFact<FraudAssessedData> };
    case PAYMENT_EVENT_TYPES.PaymentAuthorized:
      return withAttempt({ ...state, authorization: fact as PaymentFact<PaymentAuthorizedData> });
    case PAYMENT_EVENT_TYPES.PaymentDeclined:
      return withAttempt({ ...state, declined: fact as PaymentFact<PaymentDeclinedData> });
    case PAYMENT_EVENT_TYPES.PaymentTimedOut:
      return withAttempt(state);
    case PAYMENT_EVENT_TYPES.PaymentCaptured:
      return { ...state, captured: fact as PaymentFact<PaymentCapturedData> };
    case PAYMENT_EVENT_TYPES.PaymentVoided:
      return { ...state, voided: fact as PaymentFact<PaymentVoidedData> };
    case PAYMENT_EVENT_TYPES.PaymentRefunded:
      return { ...state, refunds: [...state.refunds, fact as PaymentFact<PaymentRefundedData>] };
    default:
      return state;
  }
}

export function foldPayment(events: readonly PaymentEventLike[]): PaymentState {
  return events.reduce(evolvePayment, INITIAL_PAYMENT);
}

/**
 * What a command leads to:
 * - `reply`: already decided; send the recorded fact again, record nothing;
 * - `record`: a new fact, decided without the gateway;
 * - `call`: ask the gateway (with `idempotencyKey`), then record its answer;
 * - `refuse`: the command breaks the payment's rules (a saga bug): dead-letter it with `reason`.
 */
export type PaymentDecision<C = never> =
  | { kind: 'reply'; fact: PaymentFact }
  | { kind: 'record'; fact: PaymentFact }
  | ({ kind: 'call'; idempotencyKey: string } & C)
  | { kind: 'refuse'; reason: string };

// ---- AssessFraud ----------------------------------------------------------------------------------

export function decideAssessFraud(
  state: PaymentState,
): { kind: 'reply'; fact: PaymentFact } | { kind: 'assess' } {
  return state.fraud !== undefined ? { kind: 'reply', fact: state.fraud } : { kind: 'assess' };
}

export function fraudAssessedFact(
  orderId: string,
  assessment: FraudAssessment,
): PaymentFact<FraudAssessedData> {
  return {
    id: `${orderId}:FraudAssessed`,
    type: PAYMENT_EVENT_TYPES.FraudAssessed,
    data: {
      orderId,
      score: assessment.score,
      decision: assessment.decision,
      threshold: assessment.threshold,
      rules: assessment.rules.map(({ rule, points, detail }) => ({ rule, points, detail })),
    },
  };
}

// ---- AuthorizePayment -----------------------------------------------------------------------------

export function decideAuthorize(state: PaymentState, command: AuthorizePaymentData): PaymentDecision<object> {
  const { attempt } = command;
  const decided = state.attempts.get(attempt);
  if (decided !== undefined) return { kind: 'reply', fact: decided };
  // One hold per payment: a later attempt after an approval or a decline gets that answer again.
  if (state.authorization !== undefined) return { kind: 'reply', fact: state.authorization };
  if (state.declined !== undefined) return { kind: 'reply', fact: state.declined };
  if (state.voided !== undefined) {
    return {
      kind: 'record',
      fact: declinedFact(
        command,
        'payment_voided',
        'the payment was voided before this authorization attempt',
      ),
    };
  }
  if (state.fraud?.data.decision === 'reject') {
    return {
      kind: 'record',
      fact: declinedFact(
        command,
        'fraud_rejected',
        `the fraud assessment rejected the order (score ${state.fraud.data.score}, threshold ${state.fraud.data.threshold})`,
      ),
    };
  }
  return { kind: 'call', idempotencyKey: gatewayKeys.authorize(command.paymentId, attempt) };
}

/** The fact recording the gateway's answer to an authorization attempt. */
export function authorizationFact(
  command: AuthorizePaymentData,
  result: AuthorizeResult | { outcome: 'timed_out'; timeoutMs: number },
): PaymentFact {
  const { orderId, paymentId, attempt } = command;
  switch (result.outcome) {
    case 'approved':
      return {
        id: attemptFactId(paymentId, attempt, PAYMENT_EVENT_TYPES.PaymentAuthorized),
        type: PAYMENT_EVENT_TYPES.PaymentAuthorized,
        attempt,
        data: {
          orderId,
          paymentId,
          authorizationId: result.authorizationId,
          amount: command.amount,
          currency: command.currency,
        } satisfies PaymentAuthorizedData,
      };
    case 'declined':
      return declinedFact(command, result.code, result.detail);
    case 'timed_out':
      return {
        id: attemptFactId(paymentId, attempt, PAYMENT_EVENT_TYPES.PaymentTimedOut),
        type: PAYMENT_EVENT_TYPES.PaymentTimedOut,
        attempt,
        data: {
          orderId,
          paymentId,
          attempt,
          timeoutMs: Math.round(result.timeoutMs),
        } satisfies PaymentTimedOutData,
      };
  }
}

function declinedFact(
  command: AuthorizePaymentData,
  code: string,
  detail: string,
): PaymentFact<PaymentDeclinedData> {
  const { orderId, paymentId, attempt } = command;
  return {
    id: attemptFactId(paymentId, attempt, PAYMENT_EVENT_TYPES.PaymentDeclined),
    type: PAYMENT_EVENT_TYPES.PaymentDeclined,
    attempt,
    data: { orderId, paymentId, code, detail },
  };
}

function attemptFactId(paymentId: string, attempt: number, type: PaymentEventType): string {
  return `${gatewayKeys.authorize(paymentId, attempt)}:${type}`;
}

// ---- CapturePayment -------------------------------------------------------------------------------

export function decideCapture(
  state: PaymentState,
  command: CapturePaymentData,
): PaymentDecision<{ authorizationId: string }> {
  if (state.captured !== undefined) return { kind: 'reply', fact: state.captured };
  if (state.voided !== undefined)
    return { kind: 'refuse', reason: `payment ${command.paymentId} was voided` };
  const authorization = state.authorization;
  if (authorization === undefined) {
    return { kind: 'refuse', reason: `payment ${command.paymentId} has no authorization to capture` };
  }
  if (command.amount > authorization.data.amount) {
    return {
      kind: 'refuse',
      reason: `capture of ${command.amount} exceeds the authorized ${authorization.data.amount} of payment ${command.paymentId}`,
    };
  }
  return {
    kind: 'call',
    idempotencyKey: gatewayKeys.capture(command.paymentId),
    authorizationId: authorization.data.authorizationId,
  };
}

export function capturedFact(
  state: PaymentState,
  command: CapturePaymentData,
  captureId: string,
): PaymentFact<PaymentCapturedData> {
  return {
    id: `${command.paymentId}:${PAYMENT_EVENT_TYPES.PaymentCaptured}`,
    type: PAYMENT_EVENT_TYPES.PaymentCaptured,
    data: {
      orderId: command.orderId,
      paymentId: command.paymentId,
      captureId,
      amount: command.amount,
      currency: state.authorization?.data.currency ?? '',
    },
  };
}

// ---- VoidPayment ----------------------------------------------------------------------------------

export function decideVoid(
  state: PaymentState,
  command: VoidPaymentData,
): PaymentDecision<{ authorizationId: string }> {
  if (state.voided !== undefined) return { kind: 'reply', fact: state.voided };
  if (state.captured !== undefined) {
    return {
      kind: 'refuse',
      reason: `payment ${command.paymentId} was captured; refund it instead of voiding it`,
    };
  }
  // Nothing held: the void is a fact at once, without bothering the gateway.
  if (state.authorization === undefined) return { kind: 'record', fact: voidedFact(command, 0) };
  return {
    kind: 'call',
    idempotencyKey: gatewayKeys.void(command.paymentId),
    authorizationId: state.authorization.data.authorizationId,
  };
}

export function voidedFact(command: VoidPaymentData, amount: number): PaymentFact<PaymentVoidedData> {
  return {
    id: `${command.paymentId}:${PAYMENT_EVENT_TYPES.PaymentVoided}`,
    type: PAYMENT_EVENT_TYPES.PaymentVoided,
    data: { orderId: command.orderId, paymentId: command.paymentId, amount },
  };
}

// ---- RefundPayment --------------------------------------------------------------------------------

export function decideRefund(
  state: PaymentState,
  command: RefundPaymentData,
): PaymentDecision<{ captureId: string; sequence: number }> {
  // The same refund asked again (same amount, same reason) gets its recorded answer.
  const same = state.refunds.find(
    (refund) => refund.data.amount === command.amount && refund.reason === command.reason,
  );
  if (same !== undefined) return { kind: 'reply', fact: same };
  const captured = state.captured;
  if (captured === undefined) {
    return { kind: 'refuse', reason: `payment ${command.paymentId} has no capture to refund` };
  }
  const refunded = state.refunds.reduce((sum, refund) => sum + refund.data.amount, 0);
  if (refunded + command.amount > captured.data.amount) {
    return {
      kind: 'refuse',
      reason: `refund of ${command.amount} exceeds what is left of the captured ${captured.data.amount} (${captured.data.amount - refunded})`,
    };
  }
  const sequence = state.refunds.length + 1;
  return {
    kind: 'call',
    idempotencyKey: gatewayKeys.refund(command.paymentId, sequence),
    captureId: captured.data.captureId,
    sequence,
  };
}

export function refundedFact(
  command: RefundPaymentData,
  sequence: number,
  refundId: string,
): PaymentFact<PaymentRefundedData> {
  return {
    id: `${gatewayKeys.refund(command.paymentId, sequence)}:${PAYMENT_EVENT_TYPES.PaymentRefunded}`,
    type: PAYMENT_EVENT_TYPES.PaymentRefunded,
    reason: command.reason,
    data: { orderId: command.orderId, paymentId: command.paymentId, refundId, amount: command.amount },
  };
}

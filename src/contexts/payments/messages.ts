import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../../messaging/index.ts';

/**
 * The payments context's messages: fraud assessment and the payment gateway's operations. All are
 * partitioned by order id. Amounts are integer minor units of `currency`.
 */

const Region = Type.Union([Type.Literal('NA'), Type.Literal('EU'), Type.Literal('APAC')]);

export const AssessFraudData = Type.Object(
  {
    orderId: Type.String(),
    customerId: Type.String(),
    region: Region,
    shippingCountry: Type.String({ pattern: '^[A-Z]{2}$' }),
    amount: Type.Integer({ minimum: 0 }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    paymentToken: Type.String(),
  },
  { additionalProperties: false },
);
export const AssessFraud = defineMessage({
  type: 'payments.AssessFraud',
  kind: 'command',
  schema: AssessFraudData,
  description: 'Score the order for fraud with the explainable rules before any money moves.',
});

export const FraudRuleHit = Type.Object(
  {
    rule: Type.String({
      description: 'e.g. amount, customer_velocity, token_velocity, country_mismatch, risky_token',
    }),
    points: Type.Integer(),
    detail: Type.String(),
  },
  { additionalProperties: false },
);

export const FraudAssessedData = Type.Object(
  {
    orderId: Type.String(),
    score: Type.Integer({ minimum: 0 }),
    decision: Type.Union([Type.Literal('accept'), Type.Literal('reject')]),
    /** The threshold in force; `reject` when score >= threshold. */
    threshold: Type.Integer({ minimum: 0 }),
    rules: Type.Array(FraudRuleHit),
  },
  { additionalProperties: false },
);
export const FraudAssessed = defineMessage({
  type: 'payments.FraudAssessed',
  kind: 'event',
  schema: FraudAssessedData,
  description: 'The fraud score, the rules that fired and the decision.',
});

export const AuthorizePaymentData = Type.Object(
  {
    orderId: Type.String(),
    /** Deterministic: `<orderId>:payment`. */
    paymentId: Type.String(),
    amount: Type.Integer({ minimum: 0 }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    paymentToken: Type.String(),
    /** 1 for the first try; the saga retries after PaymentTimedOut with attempt + 1. */
    attempt: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export const AuthorizePayment = defineMessage({
  type: 'payments.AuthorizePayment',
  kind: 'command',
  schema: AuthorizePaymentData,
  description:
    'Ask the gateway to authorize (hold) the amount. The gateway call carries an idempotency key per attempt.',
});

export const PaymentAuthorizedData = Type.Object(
  {
    orderId: Type.String(),
    paymentId: Type.String(),
    authorizationId: Type.String(),
    amount: Type.Integer({ minimum: 0 }),
    currency: Type.String(),
  },
  { additionalProperties: false },
);
export const PaymentAuthorized = defineMessage({
  type: 'payments.PaymentAuthorized',
  kind: 'event',
  schema: PaymentAuthorizedData,
  description: "The amount is held on the customer's card.",
});

export const PaymentDeclinedData = Type.Object(
  { orderId: Type.String(), paymentId: Type.String(), code: Type.String(), detail: Type.String() },
  { additionalProperties: false },
);
export const PaymentDeclined = defineMessage({
  type: 'payments.PaymentDeclined',
  kind: 'event',
  schema: PaymentDeclinedData,
  description: 'The gateway declined the authorization.',
});

export const PaymentTimedOutData = Type.Object(
  {
    orderId: Type.String(),
    paymentId: Type.String(),
    attempt: Type.Integer({ minimum: 1 }),
    timeoutMs: Type.Integer(),
  },
  { additionalProperties: false },
);
export const PaymentTimedOut = defineMessage({
  type: 'payments.PaymentTimedOut',
  kind: 'event',
  schema: PaymentTimedOutData,
  description: 'The gateway did not answer in time for this attempt; the saga decides whether to retry.',
});

const PaymentRef = { orderId: Type.String(), paymentId: Type.String() };

export const CapturePaymentData = Type.Object(
  { ...PaymentRef, amount: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export const CapturePayment = defineMessage({
  type: 'payments.CapturePayment',
  kind: 'command',
  schema: CapturePaymentData,
  description:
    'Take the authorized money (on first dispatch). Idempotent: a second capture of a payment is never sent to the gateway.',
});

export const PaymentCapturedData = Type.Object(
  { ...PaymentRef, captureId: Type.String(), amount: Type.Integer({ minimum: 0 }), currency: Type.String() },
  { additionalProperties: false },
);
export const PaymentCaptured = defineMessage({
  type: 'payments.PaymentCaptured',
  kind: 'event',
  schema: PaymentCapturedData,
  description: 'The money was taken.',
});

export const VoidPaymentData = Type.Object(PaymentRef, { additionalProperties: false });
export const VoidPayment = defineMessage({
  type: 'payments.VoidPayment',
  kind: 'command',
  schema: VoidPaymentData,
  description:
    'Compensation: release an authorization that will not be captured. Idempotent; voiding nothing answers PaymentVoided again.',
});

export const PaymentVoidedData = Type.Object(
  { ...PaymentRef, amount: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export const PaymentVoided = defineMessage({
  type: 'payments.PaymentVoided',
  kind: 'event',
  schema: PaymentVoidedData,
  description: 'The authorization was released; nothing was charged.',
});

export const RefundPaymentData = Type.Object(
  { ...PaymentRef, amount: Type.Integer({ minimum: 1 }), reason: Type.String() },
  { additionalProperties: false },
);
export const RefundPayment = defineMessage({
  type: 'payments.RefundPayment',
  kind: 'command',
  schema: RefundPaymentData,
  description: 'Give captured money back.',
});

export const PaymentRefundedData = Type.Object(
  { ...PaymentRef, refundId: Type.String(), amount: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
export const PaymentRefunded = defineMessage({
  type: 'payments.PaymentRefunded',
  kind: 'event',
  schema: PaymentRefundedData,
  description: 'Captured money was given back.',
});

/**
 * Stored in the payment's stream (`payment-<orderId>`) when the gateway was unavailable for an
 * authorization attempt; not published (the consumer retries the command with backoff). Observers
 * (operations' `orderflow_payment_authorizations_total{outcome="unavailable"}`) read it from the store.
 */
export const PAYMENT_GATEWAY_UNAVAILABLE = 'PaymentGatewayUnavailable';

export const PaymentGatewayUnavailableData = Type.Object(
  {
    orderId: Type.String(),
    paymentId: Type.String(),
    attempt: Type.Integer({ minimum: 1 }),
    /** The gateway's error message. */
    error: Type.String(),
    at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type PaymentGatewayUnavailableData = Static<typeof PaymentGatewayUnavailableData>;

export type AssessFraudData = Static<typeof AssessFraudData>;
export type FraudAssessedData = Static<typeof FraudAssessedData>;
export type AuthorizePaymentData = Static<typeof AuthorizePaymentData>;
export type PaymentAuthorizedData = Static<typeof PaymentAuthorizedData>;
export type PaymentDeclinedData = Static<typeof PaymentDeclinedData>;
export type PaymentTimedOutData = Static<typeof PaymentTimedOutData>;
export type CapturePaymentData = Static<typeof CapturePaymentData>;
export type PaymentCapturedData = Static<typeof PaymentCapturedData>;
export type VoidPaymentData = Static<typeof VoidPaymentData>;
export type PaymentVoidedData = Static<typeof PaymentVoidedData>;
export type RefundPaymentData = Static<typeof RefundPaymentData>;
export type PaymentRefundedData = Static<typeof PaymentRefundedData>;

export const PAYMENT_MESSAGES = [
  AssessFraud,
  FraudAssessed,
  AuthorizePayment,
  PaymentAuthorized,
  PaymentDeclined,
  PaymentTimedOut,
  CapturePayment,
  PaymentCaptured,
  VoidPayment,
  PaymentVoided,
  RefundPayment,
  PaymentRefunded,
] as const;

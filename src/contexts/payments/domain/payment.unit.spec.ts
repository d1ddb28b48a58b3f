import { describe, expect, it } from 'vitest';
import { MessageCatalog } from '../../../messaging/index.ts';
import { PAYMENT_MESSAGES } from '../messages.ts';
import {
  authorizationFact,
  capturedFact,
  decideAssessFraud,
  decideAuthorize,
  decideCapture,
  decideRefund,
  decideVoid,
  foldPayment,
  fraudAssessedFact,
  paymentStreamId,
  refundedFact,
  REPLY_TYPES,
  voidedFact,
  type PaymentEventLike,
  type PaymentFact,
} from './payment.ts';

const ORDER = 'order-1';
const PAYMENT = `${ORDER}:payment`;
const AUTHORIZE = {
  orderId: ORDER,
  paymentId: PAYMENT,
  amount: 2500,
  currency: 'USD',
  paymentToken: 'tok_visa',
  attempt: 1,
};
const catalog = new MessageCatalog().register(...PAYMENT_MESSAGES);

/** Given: facts recorded as they are stored (attempt and reason in metadata). */
function given(...facts: PaymentFact[]): ReturnType<typeof foldPayment> {
  const events: PaymentEventLike[] = facts.map((fact) => ({
    id: fact.id,
    type: fact.type,
    data: fact.data,
    metadata: {
      context: 'payments',
      ...(fact.attempt !== undefined ? { attempt: fact.attempt } : {}),
      ...(fact.reason !== undefined ? { reason: fact.reason } : {}),
    },
  }));
  return foldPayment(events);
}

const authorized = authorizationFact(AUTHORIZE, { outcome: 'approved', authorizationId: 'auth_1' });
const timedOut = authorizationFact(AUTHORIZE, { outcome: 'timed_out', timeoutMs: 2000 });
const declined = authorizationFact(AUTHORIZE, { outcome: 'declined', code: 'card_declined', detail: 'no' });

describe('payment decisions', () => {
  it('lives in the stream payment-<orderId>', () => {
    expect(paymentStreamId(ORDER)).toBe('payment-order-1');
  });

  it('every fact is a valid reply message of its type', () => {
    const captured = capturedFact(
      given(authorized),
      { orderId: ORDER, paymentId: PAYMENT, amount: 2500 },
      'cap_1',
    );
    const facts: PaymentFact[] = [
      fraudAssessedFact(ORDER, { score: 0, decision: 'accept', threshold: 70, rules: [] }),
      authorized,
      timedOut,
      declined,
      captured,
      voidedFact({ orderId: ORDER, paymentId: PAYMENT }, 2500),
      refundedFact({ orderId: ORDER, paymentId: PAYMENT, amount: 100, reason: 'r' }, 1, 'ref_1'),
    ];
    for (const fact of facts) expect(() => catalog.validate(REPLY_TYPES[fact.type], fact.data)).not.toThrow();
  });

  describe('AssessFraud', () => {
    it('assesses a payment never assessed, and replies with the recorded assessment afterwards', () => {
      expect(decideAssessFraud(given())).toEqual({ kind: 'assess' });
      const fact = fraudAssessedFact(ORDER, { score: 80, decision: 'reject', threshold: 70, rules: [] });
      expect(fact.id).toBe(`${ORDER}:FraudAssessed`);
      expect(decideAssessFraud(given(fact))).toEqual({ kind: 'reply', fact });
    });
  });

  describe('AuthorizePayment', () => {
    it('calls the gateway with the key of the attempt', () => {
      expect(decideAuthorize(given(), AUTHORIZE)).toEqual({
        kind: 'call',
        idempotencyKey: `${PAYMENT}:authorize:1`,
      });
      expect(decideAuthorize(given(timedOut), { ...AUTHORIZE, attempt: 2 })).toEqual({
        kind: 'call',
        idempotencyKey: `${PAYMENT}:authorize:2`,
      });
    });

    it('records each outcome with a deterministic id per attempt', () => {
      expect(authorized).toEqual({
        id: `${PAYMENT}:authorize:1:PaymentAuthorized`,
        type: 'PaymentAuthorized',
        attempt: 1,
        data: {
          orderId: ORDER,
          paymentId: PAYMENT,
          authorizationId: 'auth_1',
          amount: 2500,
          currency: 'USD',
        },
      });
      expect(timedOut).toMatchObject({
        id: `${PAYMENT}:authorize:1:PaymentTimedOut`,
        data: { orderId: ORDER, paymentId: PAYMENT, attempt: 1, timeoutMs: 2000 },
      });
      expect(declined).toMatchObject({
        id: `${PAYMENT}:authorize:1:PaymentDeclined`,
        data: { code: 'card_declined', detail: 'no' },
      });
    });

    it('replies with what an attempt already decided, without calling the gateway', () => {
      expect(decideAuthorize(given(timedOut), AUTHORIZE)).toEqual({ kind: 'reply', fact: timedOut });
      expect(decideAuthorize(given(authorized), AUTHORIZE)).toEqual({ kind: 'reply', fact: authorized });
    });

    it('never holds money twice: a later attempt after an approval or a decline gets that answer', () => {
      expect(decideAuthorize(given(authorized), { ...AUTHORIZE, attempt: 3 })).toEqual({
        kind: 'reply',
        fact: authorized,
      });
      expect(decideAuthorize(given(declined), { ...AUTHORIZE, attempt: 2 })).toEqual({
        kind: 'reply',
        fact: declined,
      });
    });

    it('declines without the gateway after a void or a fraud rejection', () => {
      const voided = voidedFact({ orderId: ORDER, paymentId: PAYMENT }, 0);
      expect(decideAuthorize(given(voided), AUTHORIZE)).toMatchObject({
        kind: 'record',
        fact: { type: 'PaymentDeclined', attempt: 1, data: { code: 'payment_voided' } },
      });
      const rejected = fraudAssessedFact(ORDER, { score: 100, decision: 'reject', threshold: 70, rules: [] });
      expect(decideAuthorize(given(rejected), AUTHORIZE)).toMatchObject({
        kind: 'record',
        fact: { type: 'PaymentDeclined', data: { code: 'fraud_rejected' } },
      });
    });
  });

  describe('CapturePayment', () => {
    const capture = { orderId: ORDER, paymentId: PAYMENT, amount: 2500 };

    it('captures the authorization once, then replies with the recorded capture', () => {
      expect(decideCapture(given(authorized), capture)).toEqual({
        kind: 'call',
        idempotencyKey: `${PAYMENT}:capture`,
        authorizationId: 'auth_1',
      });
      const captured = capturedFact(given(authorized), capture, 'cap_1');
      expect(captured).toEqual({
        id: `${PAYMENT}:PaymentCaptured`,
        type: 'PaymentCaptured',
        data: { orderId: ORDER, paymentId: PAYMENT, captureId: 'cap_1', amount: 2500, currency: 'USD' },
      });
      expect(decideCapture(given(authorized, captured), capture)).toEqual({ kind: 'reply', fact: captured });
    });

    it('refuses without an authorization, after a void, or above the authorized amount', () => {
      expect(decideCapture(given(), capture).kind).toBe('refuse');
      expect(decideCapture(given(timedOut), capture).kind).toBe('refuse');
      const voided = voidedFact({ orderId: ORDER, paymentId: PAYMENT }, 2500);
      expect(decideCapture(given(authorized, voided), capture)).toMatchObject({
        kind: 'refuse',
        reason: expect.stringContaining('voided'),
      });
      expect(decideCapture(given(authorized), { ...capture, amount: 2501 }).kind).toBe('refuse');
    });
  });

  describe('VoidPayment', () => {
    const command = { orderId: ORDER, paymentId: PAYMENT };

    it('voids nothing at once with amount 0 when nothing is authorized', () => {
      expect(decideVoid(given(), command)).toEqual({ kind: 'record', fact: voidedFact(command, 0) });
      expect(decideVoid(given(declined), command)).toEqual({ kind: 'record', fact: voidedFact(command, 0) });
    });

    it('voids the authorization through the gateway, then replies with the recorded void', () => {
      expect(decideVoid(given(authorized), command)).toEqual({
        kind: 'call',
        idempotencyKey: `${PAYMENT}:void`,
        authorizationId: 'auth_1',
      });
      const voided = voidedFact(command, 2500);
      expect(decideVoid(given(authorized, voided), command)).toEqual({ kind: 'reply', fact: voided });
    });

    it('refuses to void a captured payment', () => {
      const captured = capturedFact(given(authorized), { ...command, amount: 2500 }, 'cap_1');
      expect(decideVoid(given(authorized, captured), command).kind).toBe('refuse');
    });
  });

  describe('RefundPayment', () => {
    const captured = capturedFact(
      given(authorized),
      { orderId: ORDER, paymentId: PAYMENT, amount: 2500 },
      'cap_1',
    );
    const refund = { orderId: ORDER, paymentId: PAYMENT, amount: 1000, reason: 'damaged' };

    it('refunds a capture with a key per refund, and replies to the same refund asked again', () => {
      expect(decideRefund(given(authorized, captured), refund)).toEqual({
        kind: 'call',
        idempotencyKey: `${PAYMENT}:refund:1`,
        captureId: 'cap_1',
        sequence: 1,
      });
      const refunded = refundedFact(refund, 1, 'ref_1');
      expect(decideRefund(given(authorized, captured, refunded), refund)).toEqual({
        kind: 'reply',
        fact: refunded,
      });
      expect(
        decideRefund(given(authorized, captured, refunded), { ...refund, reason: 'late' }),
      ).toMatchObject({
        kind: 'call',
        idempotencyKey: `${PAYMENT}:refund:2`,
      });
    });

    it('refuses without a capture and beyond what was captured', () => {
      expect(decideRefund(given(authorized), refund).kind).toBe('refuse');
      const first = refundedFact({ ...refund, amount: 2000 }, 1, 'ref_1');
      expect(decideRefund(given(authorized, captured, first), refund).kind).toBe('refuse');
      expect(decideRefund(given(authorized, captured, first), { ...refund, amount: 500 }).kind).toBe('call');
    });
  });
});

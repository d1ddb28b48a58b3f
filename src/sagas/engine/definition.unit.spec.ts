import { describe, expect, expectTypeOf, it } from 'vitest';
import { StockReleased, StockReserved, type StockReservedData } from '../../contexts/inventory/messages.ts';
import { PaymentAuthorized, type PaymentAuthorizedData } from '../../contexts/payments/messages.ts';
import type { MessageData } from '../../messaging/index.ts';
import {
  on,
  type Observation,
  type ReplyContext,
  type SagaCompensation,
  type SagaDefinition,
  type SagaFailure,
  type SagaStep,
  type StepReply,
} from './definition.ts';

/*
 * Compile-only contract of the definition API: a handler is declared with the message definition it
 * handles, and its payload is that message's schema type, inferred, with no annotation. The
 * assertions are checked by `tsc` (this file is in the project): a regression (a payload typed
 * `never` or `any` again, a handler that takes another message's payload) fails the type check.
 */

interface Data {
  orderId: string;
  reserved: number;
}

const IGNORED = { outcome: 'ignored' } as const;

describe('saga handlers are typed by the message they handle', () => {
  it('infers a step reply’s payload, the saga data and the context', () => {
    const step: SagaStep<Data> = {
      name: 'reserve',
      action: () => [],
      replies: [
        on(StockReserved, (reply, data, context) => {
          expectTypeOf(reply).toEqualTypeOf<MessageData<typeof StockReserved>>();
          expectTypeOf(reply).toEqualTypeOf<StockReservedData>();
          expectTypeOf(data).toEqualTypeOf<Data>();
          expectTypeOf(context).toEqualTypeOf<ReplyContext>();
          return { outcome: 'completed', data: { reserved: data.reserved + reply.quantity } };
        }),
        on(PaymentAuthorized, (reply) => {
          expectTypeOf(reply).toEqualTypeOf<PaymentAuthorizedData>();
          return IGNORED;
        }),
      ],
    };
    expect(step.replies.map((handler) => handler.message.type)).toEqual([
      'inventory.StockReserved',
      'payments.PaymentAuthorized',
    ]);
  });

  it('infers the payload of compensation replies, late replies, watchers and start messages', () => {
    const compensation: SagaCompensation<Data> = {
      commands: () => [],
      replies: [
        on(StockReleased, (reply, data, context) => {
          expectTypeOf(reply).toEqualTypeOf<MessageData<typeof StockReleased>>();
          expectTypeOf(reply.reason).toEqualTypeOf<MessageData<typeof StockReleased>['reason']>();
          expectTypeOf(data).toEqualTypeOf<Data>();
          expectTypeOf(context).toEqualTypeOf<ReplyContext>();
          return { outcome: 'completed' };
        }),
      ],
      late: [
        on(StockReserved, (reply, data, failure) => {
          expectTypeOf(reply).toEqualTypeOf<StockReservedData>();
          expectTypeOf(data).toEqualTypeOf<Data>();
          expectTypeOf(failure).toEqualTypeOf<SagaFailure | null>();
          return [];
        }),
      ],
    };
    const definition: SagaDefinition<Data> = {
      name: 'typed',
      version: 1,
      start: [
        on(PaymentAuthorized, (payment) => {
          expectTypeOf(payment).toEqualTypeOf<PaymentAuthorizedData>();
          return { sagaId: payment.orderId, data: { orderId: payment.orderId, reserved: 0 } };
        }),
      ],
      sagaIdOf: () => undefined,
      steps: [{ name: 'reserve', action: () => [], replies: [], compensation }],
      on: [
        on(StockReleased, (reply, data): Observation<Data> => {
          expectTypeOf(reply).toEqualTypeOf<MessageData<typeof StockReleased>>();
          return reply.orderId === data.orderId ? { data: { reserved: 0 } } : {};
        }),
      ],
    };
    expect(definition.on?.[0]?.message).toBe(StockReleased);
  });

  it('does not compile a wrong payload field, a wrong payload type or a wrong answer', () => {
    const replies: SagaStep<Data>['replies'] = [
      on(StockReserved, (reply) => {
        // @ts-expect-error StockReserved has no `amount` (it is PaymentAuthorized's)
        expectTypeOf(reply.amount).toBeNumber();
        // @ts-expect-error `quantity` is a number
        expectTypeOf(reply.quantity).toBeString();
        return IGNORED;
      }),
      // @ts-expect-error a handler of PaymentAuthorized's payload cannot handle StockReserved
      on(StockReserved, (reply: PaymentAuthorizedData) => (reply.amount > 0 ? IGNORED : IGNORED)),
      // @ts-expect-error a step reply answers a StepReply: `done` is not an outcome
      on(StockReserved, () => ({ outcome: 'done' })),
    ];
    const handler = replies[0]!;
    // A handler is called with the payload of the message it was declared with.
    expectTypeOf(handler.handle).parameter(1).toEqualTypeOf<Data>();
    expectTypeOf(handler.handle).returns.toEqualTypeOf<StepReply<Data>>();
    expect(handler.message).toBe(StockReserved);
  });
});

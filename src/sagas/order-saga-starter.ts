import type { HandlerGroup, MessageHandler } from '../messaging/handler.ts';
import type { Envelope } from '../messaging/message.ts';

/**
 * The saga orchestrator's entry point: every `orders.OrderPlaced` starts one order saga, recorded as
 * `SagaStarted` at version 0 of the saga's own stream. The steps (reserve, assess, authorize,
 * allocate, capture) build on this stream.
 */
export const ORDER_SAGA_GROUP = 'saga';
export const ORDER_SAGA_DEFINITION = { name: 'order', version: 1 } as const;

export function orderSagaStreamId(orderId: string): string {
  return `saga-order-${orderId}`;
}

interface OrderPlacedData {
  orderId: string;
}

const startOrderSaga: MessageHandler<OrderPlacedData> = (message: Envelope<OrderPlacedData>, context) => {
  const { orderId } = message.data;
  context.append(orderSagaStreamId(orderId), [
    {
      // A deterministic id makes a second start of the same saga a no-op, whatever delivered it.
      id: `${orderId}:SagaStarted`,
      type: 'SagaStarted',
      data: { sagaId: orderId, definition: ORDER_SAGA_DEFINITION.name, version: ORDER_SAGA_DEFINITION.version },
    },
  ]);
};

export function orderSagaHandlers(): HandlerGroup {
  return {
    group: ORDER_SAGA_GROUP,
    handlers: { 'orders.OrderPlaced': startOrderSaga },
  };
}

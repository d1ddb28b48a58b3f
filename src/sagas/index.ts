export { orderSagaHandlers, orderSagaStreamId, ORDER_SAGA_GROUP, ORDER_SAGA_DEFINITION } from './order-saga-starter.ts';

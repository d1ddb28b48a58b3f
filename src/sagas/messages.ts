// The sagas' public contract for observers (operations' KPIs): the names of the events a saga stores
// in its stream and how those streams are named. Re-exported from the engine, never redefined.
export { SAGA_EVENT_TYPES, sagaStreamId, type SagaEventType } from './engine/saga-state.ts';
export type { SagaStatus } from './engine/definition.ts';
export { ORDER_SAGA_NAME, orderSagaStreamId } from './order/order-saga.ts';

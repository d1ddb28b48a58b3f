// The sagas' public surface: the module the composition root plugs in, the order saga's definition
// and data, and the engine (for other orchestrations and for tests).
export {
  createOrderSagaRegistry,
  createOrderSagaRuntime,
  createSagaModule,
  SAGA_MESSAGES,
  type OrderSagaRuntimeOptions,
} from './saga-module.ts';
export { ORDER_SAGA_NAME, ORDER_SAGA_STEPS, orderSagaV1, type OrderSagaOptions } from './order/order-saga.ts';
export type { OrderSagaData, Reservation, ReservationStatus, Shipment } from './order/order-saga-data.ts';
export {
  registerSagaAdminRoutes,
  SagaSummarySchema,
  type SagaAdminRoutesOptions,
  type SagaSummary,
} from './saga-admin-routes.ts';
export { SAGA_GROUP, sagaStreamId, SagaTimerFired } from './engine/index.ts';
export { orderSagaStreamId } from './order/order-saga.ts';

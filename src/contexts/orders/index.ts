// The orders context's public surface: its messages, its stream naming and its routes.
export {
  ORDER_MESSAGES,
  ORDER_PLACED,
  OrderPlaced,
  type OrderPlacedData,
  type OrderLine,
} from './messages.ts';
export { orderStreamId, type Order, type OrderReason, type OrderStatus } from './domain/order.ts';
export { createOrderIntake, orderIdFor, ORDER_ID_NAMESPACE, type OrderIntake } from './order-intake.ts';
export { registerOrdersHttp, type OrdersHttpOptions } from './http.ts';
export { createOrderUpdates, type OrderUpdates } from './order-updates.ts';

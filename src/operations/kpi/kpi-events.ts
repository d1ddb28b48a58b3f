import {
  ShipmentAllocated,
  ShipmentDelivered,
  ShipmentDispatched,
  ShipmentsCancelled,
} from '../../contexts/fulfillment/messages.ts';
import {
  ORDER_PLACED,
  OrderCancelled,
  OrderConfirmed,
  OrderDelivered,
  OrderRejected,
  orderStreamId,
} from '../../contexts/orders/messages.ts';
import {
  PAYMENT_GATEWAY_UNAVAILABLE,
  PaymentAuthorized,
  PaymentCaptured,
  PaymentDeclined,
  PaymentTimedOut,
} from '../../contexts/payments/messages.ts';
import { orderSagaStreamId, type SagaEventType } from '../../sagas/messages.ts';

/**
 * The stored event types the KPI projection folds. Contexts store a fact under the short name of the
 * message that publishes it (`fulfillment.ShipmentDispatched` is stored as `ShipmentDispatched`,
 * with the same data): kpi-events.unit.spec.ts checks these against each context's own constants.
 */
export function storedName(message: { type: string }): string {
  return message.type.slice(message.type.indexOf('.') + 1);
}

export const KPI_EVENTS = {
  orderPlaced: ORDER_PLACED,
  orderConfirmed: storedName(OrderConfirmed),
  orderRejected: storedName(OrderRejected),
  orderCancelled: storedName(OrderCancelled),
  orderDelivered: storedName(OrderDelivered),
  shipmentAllocated: storedName(ShipmentAllocated),
  shipmentDispatched: storedName(ShipmentDispatched),
  shipmentDelivered: storedName(ShipmentDelivered),
  shipmentsCancelled: storedName(ShipmentsCancelled),
  paymentAuthorized: storedName(PaymentAuthorized),
  paymentDeclined: storedName(PaymentDeclined),
  paymentTimedOut: storedName(PaymentTimedOut),
  paymentGatewayUnavailable: PAYMENT_GATEWAY_UNAVAILABLE,
  paymentCaptured: storedName(PaymentCaptured),
} as const;

/** The order saga's events that move its status (the others leave it). */
export const SAGA_STATUS_EVENTS = {
  SagaStarted: 'running',
  StepFailed: 'running',
  CompensationCompleted: 'running',
  CompensationRefused: 'running',
  SagaRetried: 'running',
  SagaNeedsAttention: 'needs_attention',
  SagaCompleted: 'ended',
  SagaFailed: 'ended',
} as const satisfies Partial<Record<SagaEventType, 'running' | 'needs_attention' | 'ended'>>;

/** Stream prefixes: the order's own stream and its saga's. */
export const ORDER_STREAM_PREFIX = orderStreamId('');
export const ORDER_SAGA_STREAM_PREFIX = orderSagaStreamId('');

/** Every type the projection reads (`readAll`'s filter). */
export const KPI_EVENT_TYPES: readonly string[] = [
  ...new Set([...Object.values(KPI_EVENTS), ...Object.keys(SAGA_STATUS_EVENTS)]),
];

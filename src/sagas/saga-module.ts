import type { ContextModule, ModuleDependencies } from '../messaging/index.ts';
import {
  AllocateShipments,
  AllocationFailed,
  CancelShipments,
  ShipmentAllocated,
  ShipmentCancellationFailed,
  ShipmentDelivered,
  ShipmentDispatched,
  ShipmentsCancelled,
} from '../contexts/fulfillment/messages.ts';
import {
  CommitStock,
  ConfirmReservation,
  ReleaseStock,
  ReservationConfirmed,
  ReserveStock,
  StockReleased,
  StockReservationFailed,
  StockReserved,
} from '../contexts/inventory/messages.ts';
import { ORDER_MESSAGES } from '../contexts/orders/messages.ts';
import {
  AssessFraud,
  AuthorizePayment,
  CapturePayment,
  FraudAssessed,
  PaymentAuthorized,
  PaymentDeclined,
  PaymentTimedOut,
  PaymentVoided,
  VoidPayment,
} from '../contexts/payments/messages.ts';
import type { EventStore } from '../event-store/index.ts';
import type { MessageCatalog, MessageDefinition } from '../messaging/index.ts';
import {
  createSagaRegistry,
  createSagaRuntime,
  SAGA_GROUP,
  SagaTimerFired,
  type SagaRegistry,
  type SagaRuntime,
} from './engine/index.ts';
import type { OrderSagaData } from './order/order-saga-data.ts';
import { orderSagaV1, type OrderSagaOptions } from './order/order-saga.ts';
import { registerSagaAdminRoutes } from './saga-admin-routes.ts';

/**
 * Every message the saga module sends or handles: its own timer, the orders context's lifecycle
 * messages, and the commands and replies of inventory, payments and fulfillment it orchestrates.
 * The definitions are the contexts' own objects, so registering them here as well is harmless, and
 * the saga validates what it sends even in a process that runs no other context.
 */
export const SAGA_MESSAGES: readonly MessageDefinition[] = [
  SagaTimerFired,
  ...ORDER_MESSAGES,
  ReserveStock,
  StockReserved,
  StockReservationFailed,
  ConfirmReservation,
  ReservationConfirmed,
  ReleaseStock,
  StockReleased,
  CommitStock,
  AssessFraud,
  FraudAssessed,
  AuthorizePayment,
  PaymentAuthorized,
  PaymentDeclined,
  PaymentTimedOut,
  CapturePayment,
  VoidPayment,
  PaymentVoided,
  AllocateShipments,
  ShipmentAllocated,
  AllocationFailed,
  ShipmentDispatched,
  ShipmentDelivered,
  CancelShipments,
  ShipmentsCancelled,
  ShipmentCancellationFailed,
];

/** Every registered version of the order saga; new orders start on the highest. */
export function createOrderSagaRegistry(options: OrderSagaOptions): SagaRegistry<OrderSagaData> {
  return createSagaRegistry([orderSagaV1(options)]);
}

/**
 * Order sagas whose state stays in memory (about 1.1 KB each). At 1,500 orders/s the carrier's
 * delays (dispatch, then delivery, 5 s each by default) span some 15,000 sagas; the step timers of
 * one order are armed within milliseconds of each other, so when they fire (stale, mostly) only the
 * first of them reads the stream again.
 */
export const ORDER_SAGA_CACHE_SIZE = 25_000;

export interface OrderSagaRuntimeOptions {
  store: EventStore;
  saga: OrderSagaOptions;
  /** @default ORDER_SAGA_CACHE_SIZE */
  maxCachedSagas?: number;
  /** Validates what an operator's retry sends. */
  catalog?: MessageCatalog;
  now?: () => Date;
}

/** The order saga on the bus: consumer group `saga`, streams `saga-order-<orderId>`. */
export function createOrderSagaRuntime(options: OrderSagaRuntimeOptions): SagaRuntime<OrderSagaData> {
  return createSagaRuntime({
    registry: createOrderSagaRegistry(options.saga),
    store: options.store,
    group: SAGA_GROUP,
    maxCachedSagas: options.maxCachedSagas ?? ORDER_SAGA_CACHE_SIZE,
    ...(options.catalog !== undefined ? { catalog: options.catalog } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
}

/**
 * The saga module: the order saga's consumer group (`saga`: OrderPlaced, CancelOrder, every reply it
 * awaits and its timer) in processes with the `saga` role, and the admin routes for parked sagas in
 * processes with the `api` role.
 */
export function createSagaModule(deps: ModuleDependencies, saga: OrderSagaOptions): ContextModule {
  const runtime = createOrderSagaRuntime({
    store: deps.store,
    saga,
    catalog: deps.messages,
    now: deps.now,
  });
  return {
    name: 'saga',
    role: 'saga',
    messages: SAGA_MESSAGES,
    handlerGroups: [runtime.handlers],
    registerHttp(http) {
      registerSagaAdminRoutes(http, { adminKey: deps.adminKey, runtime, store: deps.store });
    },
  };
}

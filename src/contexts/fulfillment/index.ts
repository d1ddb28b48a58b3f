// The fulfillment context's public surface: its messages, its stream naming and its module.
import type { ContextModule, ContextModuleDependencies } from '../../app/context-module.ts';
import { FULFILLMENT_MESSAGES } from './domain/messages.ts';
import { fulfillmentHandlers, type FulfillmentHandlersOptions } from './handlers.ts';

export {
  AllocateShipments,
  AllocationFailed,
  CancelShipments,
  DeliverShipment,
  DispatchShipment,
  FULFILLMENT_MESSAGES,
  ShipmentAllocated,
  ShipmentCancellationFailed,
  ShipmentDelivered,
  ShipmentDispatched,
  ShipmentsCancelled,
  type AllocateShipmentsData,
  type AllocationFailedData,
  type CancelShipmentsData,
  type ReservedLine,
  type ShipmentAllocatedData,
  type ShipmentCancellationFailedData,
  type ShipmentDeliveredData,
  type ShipmentDispatchedData,
  type ShipmentsCancelledData,
} from './domain/messages.ts';
export { fulfillmentStreamId, shipmentIdOf } from './domain/fulfillment.ts';
export { ALLOCATION_FAILURE_REASONS } from './domain/decide.ts';
export { FULFILLMENT_GROUP, fulfillmentHandlers, type FulfillmentHandlersOptions } from './handlers.ts';

/** Test seams; the defaults come from the configuration. */
export type FulfillmentModuleOptions = Partial<Pick<FulfillmentHandlersOptions, 'random'>>;

/**
 * The fulfillment module: allocation into split shipments, cancellation, and the carrier simulator
 * (durable timers of ORDERFLOW_CARRIER_DELAY_MS, failing ORDERFLOW_CARRIER_FAILURE_RATE of pickups).
 */
export function createFulfillmentModule(
  deps: ContextModuleDependencies,
  options: FulfillmentModuleOptions = {},
): ContextModule {
  return {
    name: 'fulfillment',
    role: 'fulfillment',
    messages: FULFILLMENT_MESSAGES,
    handlerGroups: [
      fulfillmentHandlers({
        store: deps.store,
        carrierDelayMs: deps.config.carrierDelayMs,
        carrierFailureRate: deps.config.carrierFailureRate,
        ...(options.random !== undefined ? { random: options.random } : {}),
      }),
    ],
  };
}

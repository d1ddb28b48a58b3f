// The fulfillment context's public surface: its messages, its stream naming and its module.
import type { ContextModule, ModuleDependencies } from '../../messaging/index.ts';
import { FULFILLMENT_MESSAGES } from './messages.ts';
import type { Carrier } from './carrier.ts';
import { fulfillmentHandlers } from './handlers.ts';

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
} from './messages.ts';
export { fulfillmentStreamId, shipmentIdOf } from './domain/fulfillment.ts';
export { ALLOCATION_FAILURE_REASONS } from './domain/decide.ts';
export { FULFILLMENT_GROUP, fulfillmentHandlers, type FulfillmentHandlersOptions } from './handlers.ts';

export type { Carrier } from './carrier.ts';

export interface FulfillmentModuleOptions {
  /** The carrier that picks shipments up (in this product, the simulator of src/simulators/). */
  carrier: Carrier;
}

/**
 * The fulfillment module: allocation into split shipments, cancellation, and the carrier's pickup
 * and delivery as durable timers of the carrier's delay.
 */
export function createFulfillmentModule(
  deps: ModuleDependencies,
  options: FulfillmentModuleOptions,
): ContextModule {
  return {
    name: 'fulfillment',
    role: 'fulfillment',
    messages: FULFILLMENT_MESSAGES,
    handlerGroups: [fulfillmentHandlers({ store: deps.store, carrier: options.carrier })],
  };
}

import { createAggregateLoader, type EventStore } from '../../event-store/index.ts';
import type { Envelope, HandlerContext, HandlerGroup, MessageHandler } from '../../messaging/index.ts';
import type { Carrier } from './carrier.ts';
import {
  decideAllocate,
  decideCancel,
  decideDeliver,
  decideDispatch,
  type FulfillmentDecision,
} from './domain/decide.ts';
import {
  evolveFulfillment,
  fulfillmentStreamId,
  INITIAL_FULFILLMENT_STATE,
  SHIPMENT_DISPATCHED,
  type FulfillmentState,
} from './domain/fulfillment.ts';
import {
  AllocateShipments,
  CancelShipments,
  DeliverShipment,
  DispatchShipment,
  type AllocateShipmentsData,
  type CancelShipmentsData,
  type DeliverShipmentData,
  type DispatchShipmentData,
} from './messages.ts';

export const FULFILLMENT_GROUP = 'fulfillment';

export interface FulfillmentHandlersOptions {
  store: EventStore;
  /** Picks shipments up and delivers them; its delay sets the dispatch and delivery timers. */
  carrier: Carrier;
}

/**
 * The fulfillment consumer group: AllocateShipments, CancelShipments, and the durable timers of the
 * carrier's pickup and delivery (DispatchShipment, DeliverShipment). Each handler loads the order's fulfillment
 * state (cached), decides, and declares the events, replies and timers on the context; the consumer
 * commits them with the inbox mark in one unit of work.
 */
export function fulfillmentHandlers(options: FulfillmentHandlersOptions): HandlerGroup {
  const { carrier } = options;
  const loader = createAggregateLoader<FulfillmentState>({
    store: options.store,
    initial: () => INITIAL_FULFILLMENT_STATE,
    evolve: evolveFulfillment,
  });

  async function handle(
    orderId: string,
    context: HandlerContext,
    decide: (state: FulfillmentState) => FulfillmentDecision,
    beforeRecording?: (decision: FulfillmentDecision) => void,
  ): Promise<void> {
    const streamId = fulfillmentStreamId(orderId);
    const { state, version } = await loader.load(streamId);
    const decision = decide(state);
    beforeRecording?.(decision);
    if (decision.events.length > 0) {
      context.append(
        streamId,
        decision.events.map((event) => ({
          id: event.id,
          type: event.type,
          data: event.data,
          metadata: { context: 'fulfillment' },
        })),
        version,
      );
    }
    for (const reply of decision.replies)
      context.send({ type: reply.type, id: reply.id, data: reply.data, partitionKey: orderId });
    for (const timer of decision.timers) {
      context.schedule(
        { type: timer.type, id: timer.id, data: timer.data, partitionKey: orderId },
        carrier.delayMs(),
      );
    }
  }

  /** A dispatch is recorded only once the carrier took the shipment (it may refuse: retried). */
  function handOver(orderId: string, shipmentId: string) {
    return (decision: FulfillmentDecision): void => {
      if (decision.events.some((event) => event.type === SHIPMENT_DISPATCHED))
        carrier.pickUp({ orderId, shipmentId });
    };
  }

  const allocate: MessageHandler<AllocateShipmentsData> = (
    message: Envelope<AllocateShipmentsData>,
    context,
  ) => handle(message.data.orderId, context, (state) => decideAllocate(state, message.data));

  const dispatch: MessageHandler<DispatchShipmentData> = (message: Envelope<DispatchShipmentData>, context) =>
    handle(
      message.data.orderId,
      context,
      (state) => decideDispatch(state, message.data.shipmentId),
      handOver(message.data.orderId, message.data.shipmentId),
    );

  const deliver: MessageHandler<DeliverShipmentData> = (message: Envelope<DeliverShipmentData>, context) =>
    handle(message.data.orderId, context, (state) => decideDeliver(state, message.data.shipmentId));

  const cancel: MessageHandler<CancelShipmentsData> = (message: Envelope<CancelShipmentsData>, context) =>
    handle(message.data.orderId, context, (state) => decideCancel(state, message.data.orderId));

  return {
    group: FULFILLMENT_GROUP,
    handlers: {
      [AllocateShipments.type]: allocate,
      [DispatchShipment.type]: dispatch,
      [DeliverShipment.type]: deliver,
      [CancelShipments.type]: cancel,
    },
  };
}

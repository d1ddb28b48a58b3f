/**
 * The carrier port: the outside party that picks shipments up and delivers them. Fulfillment asks
 * it how long a pickup and a delivery take (the durable timers it schedules) and tells it when a
 * shipment is handed over; a carrier that refuses the pickup throws a retryable error
 * (`CARRIER_UNAVAILABLE`), and the consumer retries the dispatch with backoff.
 *
 * This product ships a simulator of it (src/simulators/carrier-simulator.ts).
 */
export interface Carrier {
  /** Delay before a dispatch and before a delivery, in milliseconds (0 = at once). */
  delayMs(): number;
  /** Hands a shipment over. Throws when the carrier refuses it now; nothing is recorded then. */
  pickUp(shipment: { orderId: string; shipmentId: string }): void;
}

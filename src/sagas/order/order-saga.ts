import {
  AllocateShipments,
  AllocationFailed,
  CancelShipments,
  ShipmentAllocated,
  ShipmentCancellationFailed,
  ShipmentDelivered,
  ShipmentDispatched,
  ShipmentsCancelled,
  type AllocateShipmentsData,
  type CancelShipmentsData,
  type ShipmentAllocatedData,
  type ShipmentDispatchedData,
} from '../../contexts/fulfillment/messages.ts';
import {
  CommitStock,
  ConfirmReservation,
  ReleaseStock,
  ReservationConfirmed,
  ReserveStock,
  StockReleased,
  StockReservationFailed,
  StockReserved,
  type CommitStockData,
  type ConfirmReservationData,
  type ReleaseStockData,
  type ReserveStockData,
  type StockReleasedData,
} from '../../contexts/inventory/messages.ts';
import {
  CancelOrder,
  OrderCancellationRefused,
  OrderCancelled,
  OrderConfirmed,
  OrderDelivered,
  OrderPlaced,
  OrderRejected,
  type OrderCancellationRefusedData,
  type OrderCancelledData,
  type OrderConfirmedData,
  type OrderDeliveredData,
  type OrderRejectedData,
  ORDER_REASONS,
  orderStreamId,
  type OrderReason,
} from '../../contexts/orders/messages.ts';
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
  type AssessFraudData,
  type AuthorizePaymentData,
  type CapturePaymentData,
  type FraudAssessedData,
  type VoidPaymentData,
} from '../../contexts/payments/messages.ts';
import type {
  Observation,
  SagaCommand,
  SagaDefinition,
  SagaFact,
  SagaFailure,
  SagaView,
} from '../engine/index.ts';
import { on, sagaStreamId } from '../engine/index.ts';
import {
  allAllocated,
  allDelivered,
  HELD,
  initialOrderSagaData,
  lineIndexOf,
  paymentIdOf,
  reservationIdOf,
  withReservation,
  withDelivery,
  withDispatch,
  withAllocation,
  type OrderSagaData,
  type Reservation,
} from './order-saga-data.ts';

/**
 * The order saga (DESIGN.md §2): the orchestrator that carries an order from OrderPlaced to a
 * terminal state. Part of the orders context's process: it records the order's lifecycle events
 * (OrderConfirmed, OrderRejected, OrderCancelled, OrderDelivered, OrderCancellationRefused) in the
 * order's stream, with deterministic ids, and publishes them as `orders.*` messages.
 *
 * Steps, each with a per-attempt timeout (ORDERFLOW_SAGA_STEP_TIMEOUT_MS) and a retry budget:
 *
 * 1. `reserve-stock`: ReserveStock per line (reservation `<orderId>:<line>`, partition key sku),
 *    until every line is StockReserved; a StockReservationFailed rejects the order `out_of_stock`.
 *    Compensation: ReleaseStock for every line that may hold units, awaiting each StockReleased.
 * 2. `assess-fraud`: AssessFraud; a `reject` rejects the order `fraud_suspected`.
 * 3. `authorize-payment`: AuthorizePayment (payment `<orderId>:payment`, attempt n); PaymentTimedOut
 *    (or the step's timeout) sends attempt n + 1 up to ORDERFLOW_PAYMENT_MAX_ATTEMPTS, then the order
 *    is rejected `timeout`; PaymentDeclined rejects it `payment_declined`. Compensation: VoidPayment.
 * 4. `confirm-reservations`: ConfirmReservation per line until every ReservationConfirmed; then
 *    OrderConfirmed is recorded.
 * 5. `allocate-shipments`: AllocateShipments with the reserved lines, until ShipmentAllocated ×
 *    shipmentCount; AllocationFailed rejects the order `fulfillment_failed`. Compensation:
 *    CancelShipments; a ShipmentCancellationFailed (already dispatched) refuses the cancellation and
 *    the order carries on.
 * 6. `await-delivery`: until every shipment is ShipmentDelivered (no deadline: carriers take days);
 *    then OrderDelivered is recorded and the saga completes.
 *
 * Whatever the step, a ShipmentDispatched sends CommitStock for each of its reservations and, on the
 * first dispatch, CapturePayment of the order's total. A ShipmentDelivered seen before its
 * ShipmentDispatched (a redelivery after a failure can overtake) does not complete the saga until
 * that dispatch arrives. A reservation that expires before it is
 * confirmed (StockReleased `expired`) rejects the order `timeout`. A CancelOrder before any dispatch
 * fails the saga with `customer_request` (shipments cancelled, payment voided, stock released, then
 * OrderCancelled); after a dispatch, or once the order ended or is ending, it is refused.
 */

export const ORDER_SAGA_NAME = 'order';

/** The order saga's stream: `saga-order-<orderId>`. */
export function orderSagaStreamId(orderId: string): string {
  return sagaStreamId(ORDER_SAGA_NAME, orderId);
}

export const ORDER_SAGA_STEPS = {
  reserve: 'reserve-stock',
  fraud: 'assess-fraud',
  authorize: 'authorize-payment',
  confirm: 'confirm-reservations',
  allocate: 'allocate-shipments',
  deliver: 'await-delivery',
} as const;

export interface OrderSagaOptions {
  /** `ttlMs` of every ReserveStock (ORDERFLOW_RESERVATION_TTL_MS). */
  reservationTtlMs: number;
  /** Per-attempt deadline of every step and compensation (ORDERFLOW_SAGA_STEP_TIMEOUT_MS). */
  stepTimeoutMs: number;
  /** Authorization attempts, the first included (ORDERFLOW_PAYMENT_MAX_ATTEMPTS). */
  paymentMaxAttempts: number;
}

/** Re-sends of an idempotent command after a timeout (reservations, confirmations, allocation). */
const IDEMPOTENT_STEP_ATTEMPTS = 2;
/** Fraud scoring counts velocity: it is not re-sent. */
const FRAUD_ATTEMPTS = 1;
/** Compensations are idempotent; after these attempts the saga needs an operator. */
const COMPENSATION_ATTEMPTS = 3;

const IGNORED = { outcome: 'ignored' } as const;
const REASONS: ReadonlySet<string> = new Set(ORDER_REASONS);

/** Version 1 of the order saga. */
export function orderSagaV1(options: OrderSagaOptions): SagaDefinition<OrderSagaData> {
  const { reservationTtlMs, stepTimeoutMs, paymentMaxAttempts } = options;

  return {
    name: ORDER_SAGA_NAME,
    version: 1,
    start: [
      on(OrderPlaced, (order) => ({
        sagaId: order.orderId,
        data: initialOrderSagaData(order),
      })),
    ],
    sagaIdOf: (_type, payload) => {
      const orderId = (payload as { orderId?: unknown } | null)?.orderId;
      return typeof orderId === 'string' ? orderId : undefined;
    },

    steps: [
      {
        name: ORDER_SAGA_STEPS.reserve,
        action: (data) =>
          data.reservations.flatMap((reservation, index) =>
            reservation.status === 'pending' ? [reserveStock(data, index, reservationTtlMs)] : [],
          ),
        replies: [
          on(StockReserved, (reply, data) => {
            const index = lineIndexOf(data, reply.reservationId);
            if (data.reservations[index]?.status !== 'pending') return IGNORED;
            const reservations = withReservation(data, index, {
              status: 'reserved',
              vendorId: reply.vendorId,
              warehouseId: reply.warehouseId,
              warehouseRegion: reply.warehouseRegion,
            });
            const done = reservations.every((reservation) => reservation.status === 'reserved');
            return { outcome: done ? 'completed' : 'progressed', data: { reservations } };
          }),
          on(StockReservationFailed, (reply, data) => {
            const index = lineIndexOf(data, reply.reservationId);
            if (data.reservations[index]?.status !== 'pending') return IGNORED;
            return {
              outcome: 'failed',
              reason: 'out_of_stock',
              detail: `${reply.sku}: ${reply.requested} requested, ${reply.available} available`,
              data: { reservations: withReservation(data, index, { status: 'failed' }) },
              // Other lines may be reserved already (or about to be): they are released.
              compensate: true,
            };
          }),
        ],
        timeoutMs: stepTimeoutMs,
        maxAttempts: IDEMPOTENT_STEP_ATTEMPTS,
        timeoutDetail: (data, attempts) =>
          `inventory did not answer for ${skusWhere(data, 'pending')} after ${plural(attempts, 'attempt')}`,
        compensation: {
          commands: (data, { failure }) =>
            data.reservations.flatMap((reservation, index) =>
              HELD.has(reservation.status) ? [releaseStock(data, index, failure)] : [],
            ),
          replies: [
            on(StockReleased, (reply, data) => {
              const index = lineIndexOf(data, reply.reservationId);
              const reservation = data.reservations[index];
              if (reservation === undefined || !HELD.has(reservation.status)) return IGNORED;
              const reservations = withReservation(data, index, released(reservation, reply));
              const done = reservations.every((candidate) => !HELD.has(candidate.status));
              return { outcome: done ? 'completed' : 'progressed', data: { reservations } };
            }),
          ],
          late: [
            // Reserved after the saga decided to reject or cancel: give it back.
            on(StockReserved, (reply, data, failure) => {
              const index = lineIndexOf(data, reply.reservationId);
              return index === -1 ? [] : [releaseStock(data, index, failure)];
            }),
          ],
          timeoutMs: stepTimeoutMs,
          maxAttempts: COMPENSATION_ATTEMPTS,
        },
      },

      {
        name: ORDER_SAGA_STEPS.fraud,
        action: (data) => [
          command<AssessFraudData>(AssessFraud.type, {
            orderId: data.orderId,
            customerId: data.customerId,
            region: data.region,
            shippingCountry: data.shippingCountry,
            amount: data.total,
            currency: data.currency,
            paymentToken: data.paymentToken,
          }),
        ],
        replies: [
          on(FraudAssessed, (reply) =>
            reply.decision === 'accept'
              ? { outcome: 'completed' }
              : {
                  outcome: 'failed',
                  reason: 'fraud_suspected',
                  detail: fraudDetail(reply),
                  compensate: false,
                },
          ),
        ],
        timeoutMs: stepTimeoutMs,
        maxAttempts: FRAUD_ATTEMPTS,
        timeoutDetail: () => 'the fraud check did not answer in time',
      },

      {
        name: ORDER_SAGA_STEPS.authorize,
        action: (data, { attempt }) => [
          command<AuthorizePaymentData>(AuthorizePayment.type, {
            orderId: data.orderId,
            paymentId: paymentIdOf(data.orderId),
            amount: data.total,
            currency: data.currency,
            paymentToken: data.paymentToken,
            attempt,
          }),
        ],
        replies: [
          on(PaymentAuthorized, (reply, data) =>
            reply.paymentId === paymentIdOf(data.orderId) ? { outcome: 'completed' } : IGNORED,
          ),
          on(PaymentDeclined, (reply, data) =>
            reply.paymentId === paymentIdOf(data.orderId)
              ? {
                  outcome: 'failed',
                  reason: 'payment_declined',
                  detail: `the payment was declined: ${reply.detail} (${reply.code})`,
                  // Nothing is held on the card.
                  compensate: false,
                }
              : IGNORED,
          ),
          // Retryable: the next attempt goes out at once (a stale attempt's timeout is ignored).
          on(PaymentTimedOut, (reply) => ({ outcome: 'retry', attempt: reply.attempt })),
        ],
        timeoutMs: stepTimeoutMs,
        maxAttempts: paymentMaxAttempts,
        timeoutDetail: (_data, attempts) =>
          `the payment was not authorized: the gateway did not answer in ${plural(attempts, 'attempt')}`,
        compensation: {
          commands: (data) => [voidPayment(data)],
          replies: [on(PaymentVoided, () => ({ outcome: 'completed' }))],
          late: [
            // Authorized after the saga decided to reject or cancel: release the hold.
            on(PaymentAuthorized, (_reply, data) => [voidPayment(data)]),
          ],
          timeoutMs: stepTimeoutMs,
          maxAttempts: COMPENSATION_ATTEMPTS,
        },
      },

      {
        name: ORDER_SAGA_STEPS.confirm,
        action: (data) =>
          data.reservations.flatMap((reservation, index) =>
            reservation.status === 'reserved'
              ? [
                  command<ConfirmReservationData>(
                    ConfirmReservation.type,
                    {
                      orderId: data.orderId,
                      reservationId: reservationIdOf(data.orderId, index),
                      sku: skuOf(data, index),
                    },
                    skuOf(data, index),
                  ),
                ]
              : [],
          ),
        replies: [
          on(ReservationConfirmed, (reply, data) => {
            const index = lineIndexOf(data, reply.reservationId);
            const reservation = data.reservations[index];
            if (reservation?.status !== 'reserved') return IGNORED;
            const reservations = withReservation(data, index, { ...reservation, status: 'confirmed' });
            const done = reservations.every((candidate) => candidate.status === 'confirmed');
            return { outcome: done ? 'completed' : 'progressed', data: { reservations } };
          }),
        ],
        timeoutMs: stepTimeoutMs,
        maxAttempts: IDEMPOTENT_STEP_ATTEMPTS,
        timeoutDetail: (data, attempts) =>
          `inventory did not confirm ${skusWhere(data, 'reserved')} after ${plural(attempts, 'attempt')}`,
        onCompleted: (data) => ({
          record: [
            orderFact<OrderConfirmedData>(data, OrderConfirmed.type, {
              orderId: data.orderId,
              customerId: data.customerId,
              region: data.region,
              total: data.total,
              currency: data.currency,
              items: [...data.items],
            }),
          ],
        }),
      },

      {
        name: ORDER_SAGA_STEPS.allocate,
        action: (data) => [
          command<AllocateShipmentsData>(AllocateShipments.type, {
            orderId: data.orderId,
            region: data.region,
            lines: data.reservations.map((reservation, index) => ({
              reservationId: reservationIdOf(data.orderId, index),
              sku: skuOf(data, index),
              vendorId: reservation.vendorId ?? data.items[index]!.vendorId,
              warehouseId: reservation.warehouseId ?? '',
              warehouseRegion: reservation.warehouseRegion ?? data.region,
              quantity: data.items[index]!.quantity,
            })),
          }),
        ],
        replies: [
          on(ShipmentAllocated, (reply, data) => {
            const next = allocated(data, reply);
            if (next === undefined) return IGNORED;
            return { outcome: allAllocated({ ...data, ...next }) ? 'completed' : 'progressed', data: next };
          }),
          on(AllocationFailed, (reply) => ({
            outcome: 'failed',
            reason: 'fulfillment_failed',
            detail: `the order could not be allocated to shipments: ${reply.reason}`,
            // Nothing was allocated.
            compensate: false,
          })),
        ],
        timeoutMs: stepTimeoutMs,
        maxAttempts: IDEMPOTENT_STEP_ATTEMPTS,
        timeoutDetail: (_data, attempts) =>
          `fulfillment did not allocate the order after ${plural(attempts, 'attempt')}`,
        isDone: allAllocated,
        compensation: {
          commands: (data) => [cancelShipments(data)],
          replies: [
            on(ShipmentsCancelled, () => ({ outcome: 'completed' })),
            on(ShipmentCancellationFailed, (reply, data, context) => {
              const detail = `${describeShipments(reply.dispatchedShipmentIds)} already dispatched`;
              const cancelling = context.view.failure?.reason === 'customer_request';
              return {
                outcome: 'refused',
                detail,
                ...(cancelling
                  ? {
                      effects: {
                        record: [
                          refusal(
                            data,
                            context.messageId,
                            'already_dispatched',
                            `the order cannot be cancelled: ${detail}`,
                          ),
                        ],
                      },
                    }
                  : {}),
              };
            }),
          ],
          late: [on(ShipmentAllocated, (_reply, data) => [cancelShipments(data)])],
          timeoutMs: stepTimeoutMs,
          maxAttempts: COMPENSATION_ATTEMPTS,
        },
      },

      {
        name: ORDER_SAGA_STEPS.deliver,
        // Waits for the carrier: no command, no deadline.
        action: () => [],
        replies: [
          on(ShipmentDelivered, (reply, data) => {
            const shipments = withDelivery(data, reply.shipmentId);
            if (shipments === data.shipments) return IGNORED;
            return {
              outcome: allDelivered({ ...data, shipments }) ? 'completed' : 'progressed',
              data: { shipments },
            };
          }),
          // Usually seen before any delivery (then through `on`); here when a redelivery put it
          // behind its own ShipmentDelivered: the saga waited for it to commit the stock.
          on(ShipmentDispatched, (reply, data, { view }) => {
            const observed = dispatched(data, reply, view);
            if (observed.data === undefined) return IGNORED;
            const next = { ...data, ...observed.data };
            return {
              outcome: allDelivered(next) ? 'completed' : 'progressed',
              data: observed.data,
              ...(observed.effects !== undefined ? { effects: observed.effects } : {}),
            };
          }),
        ],
        isDone: allDelivered,
      },
    ],

    on: [
      // A reservation expired before confirmation: the order cannot be honoured in time.
      on(StockReleased, (reply, data, { view }) => {
        const index = lineIndexOf(data, reply.reservationId);
        const reservation = data.reservations[index];
        if (reservation === undefined || !HELD.has(reservation.status)) return {};
        const reservations = withReservation(data, index, released(reservation, reply));
        if (view.status !== 'running') return { data: { reservations } };
        if (reply.reason !== 'expired' || reservation.status === 'confirmed') return {};
        return {
          data: { reservations },
          fail: {
            reason: 'timeout',
            detail: `the reservation of ${reply.sku} expired before the order was confirmed`,
          },
        };
      }),
      // Seen while the saga is elsewhere (compensating a cancellation that may yet be refused).
      on(ShipmentAllocated, (reply, data, { view }) => {
        if (isOver(view)) return {};
        const next = allocated(data, reply);
        return next === undefined ? {} : { data: next };
      }),
      on(ShipmentDispatched, (reply, data, { view }) => dispatched(data, reply, view)),
      on(ShipmentDelivered, (reply, data, { view }) => {
        if (isOver(view)) return {};
        const shipments = withDelivery(data, reply.shipmentId);
        return shipments === data.shipments ? {} : { data: { shipments } };
      }),
      on(CancelOrder, (_request, data, { view, messageId }) => cancel(data, view, messageId)),
    ],

    onCompleted: (data) => ({
      record: [
        orderFact<OrderDeliveredData>(data, OrderDelivered.type, {
          orderId: data.orderId,
          customerId: data.customerId,
        }),
      ],
    }),

    onFailed: (data, failure) => {
      if (failure.reason === 'customer_request') {
        return {
          record: [
            orderFact<OrderCancelledData>(data, OrderCancelled.type, {
              orderId: data.orderId,
              customerId: data.customerId,
              reason: 'customer_request',
              detail: failure.detail,
            }),
          ],
        };
      }
      return {
        record: [
          orderFact<OrderRejectedData>(data, OrderRejected.type, {
            orderId: data.orderId,
            customerId: data.customerId,
            reason: orderReasonOf(failure.reason),
            detail: failure.detail,
          }),
        ],
      };
    },
  };
}

/** ShipmentDispatched: the goods left. Commit their stock; the first dispatch captures the payment. */
function dispatched(
  data: OrderSagaData,
  reply: ShipmentDispatchedData,
  view: SagaView,
): Observation<OrderSagaData> {
  if (isOver(view)) return {};
  const shipments = withDispatch(data, reply.shipmentId);
  if (shipments === data.shipments) return {};
  const send: SagaCommand[] = [];
  for (const reservationId of reply.reservationIds) {
    const index = lineIndexOf(data, reservationId);
    if (index === -1) continue;
    const sku = skuOf(data, index);
    send.push(
      command<CommitStockData>(
        CommitStock.type,
        { orderId: data.orderId, reservationId, sku, shipmentId: reply.shipmentId },
        sku,
      ),
    );
  }
  if (!data.captureSent) {
    send.push(
      command<CapturePaymentData>(CapturePayment.type, {
        orderId: data.orderId,
        paymentId: paymentIdOf(data.orderId),
        amount: data.total,
      }),
    );
  }
  return { data: { shipments, captureSent: true }, effects: { send } };
}

/** CancelOrder: compensate before any dispatch; refuse after one, or once the order ended or is ending. */
function cancel(data: OrderSagaData, view: SagaView, messageId: string): Observation<OrderSagaData> {
  const left = data.shipments.filter((shipment) => shipment.status !== 'allocated').map((s) => s.shipmentId);
  if (view.status === 'running' && left.length === 0) {
    return { fail: { reason: 'customer_request', detail: 'cancelled at the customer’s request' } };
  }
  let reason: string;
  let why: string;
  if (view.status === 'running') {
    reason = 'already_dispatched';
    why = `${describeShipments(left)} already dispatched`;
  } else if (view.status === 'completed') {
    reason = 'order_ended';
    why = 'it was already delivered';
  } else {
    const cancelled = view.failure?.reason === 'customer_request';
    const outcome = cancelled ? 'cancelled' : 'rejected';
    if (view.status === 'failed') {
      reason = 'order_ended';
      why = `it was already ${outcome}`;
    } else {
      reason = 'order_ending';
      why = `it is already being ${outcome}${cancelled ? '' : ` (${view.failure?.detail ?? 'failed'})`}`;
    }
  }
  return { effects: { record: [refusal(data, messageId, reason, `the order cannot be cancelled: ${why}`)] } };
}

/** The shipments after a ShipmentAllocated, or undefined when it taught nothing new. */
function allocated(
  data: OrderSagaData,
  reply: ShipmentAllocatedData,
): Pick<OrderSagaData, 'shipments' | 'shipmentCount'> | undefined {
  const shipments = withAllocation(data, reply.shipmentId);
  if (shipments === data.shipments && data.shipmentCount === reply.shipmentCount) return undefined;
  return { shipments, shipmentCount: reply.shipmentCount };
}

function isOver(view: SagaView): boolean {
  return view.status === 'completed' || view.status === 'failed';
}

function released(reservation: Reservation, reply: StockReleasedData): Reservation {
  return { ...reservation, status: reply.reason === 'expired' ? 'expired' : 'released' };
}

function reserveStock(data: OrderSagaData, index: number, ttlMs: number): SagaCommand {
  const line = data.items[index]!;
  return command<ReserveStockData>(
    ReserveStock.type,
    {
      orderId: data.orderId,
      reservationId: reservationIdOf(data.orderId, index),
      sku: line.sku,
      quantity: line.quantity,
      region: data.region,
      ttlMs,
    },
    line.sku,
  );
}

function releaseStock(data: OrderSagaData, index: number, failure: SagaFailure | null): SagaCommand {
  const sku = skuOf(data, index);
  return command<ReleaseStockData>(
    ReleaseStock.type,
    {
      orderId: data.orderId,
      reservationId: reservationIdOf(data.orderId, index),
      sku,
      reason: failure?.reason === 'customer_request' ? 'cancelled' : 'rejected',
    },
    sku,
  );
}

function voidPayment(data: OrderSagaData): SagaCommand {
  return command<VoidPaymentData>(VoidPayment.type, {
    orderId: data.orderId,
    paymentId: paymentIdOf(data.orderId),
  });
}

function cancelShipments(data: OrderSagaData): SagaCommand {
  return command<CancelShipmentsData>(CancelShipments.type, { orderId: data.orderId });
}

function command<T>(type: string, data: T, partitionKey?: string): SagaCommand {
  return partitionKey === undefined ? { type, data } : { type, data, partitionKey };
}

/** A lifecycle event of the order: recorded in the order's stream once (deterministic id) and published. */
function orderFact<T>(data: OrderSagaData, messageType: string, payload: T, id?: string): SagaFact {
  const type = messageType.slice(messageType.indexOf('.') + 1);
  return {
    streamId: orderStreamId(data.orderId),
    id: id ?? `${data.orderId}:${type}`,
    type,
    messageType,
    data: payload,
    metadata: { context: 'orders' },
  };
}

/** One refusal per cancellation request (or per refused compensation): its id names the cause. */
function refusal(data: OrderSagaData, causeId: string, reason: string, detail: string): SagaFact {
  return orderFact<OrderCancellationRefusedData>(
    data,
    OrderCancellationRefused.type,
    { orderId: data.orderId, reason, detail },
    `${data.orderId}:OrderCancellationRefused:${causeId}`,
  );
}

function skuOf(data: OrderSagaData, index: number): string {
  return data.items[index]!.sku;
}

function skusWhere(data: OrderSagaData, status: Reservation['status']): string {
  const skus = data.reservations.flatMap((reservation, index) =>
    reservation.status === status ? [skuOf(data, index)] : [],
  );
  return skus.length === 0 ? 'the order' : skus.join(', ');
}

function fraudDetail(reply: FraudAssessedData): string {
  const rules = reply.rules.map((rule) => `${rule.rule}: ${rule.detail}`).join('; ');
  return `fraud score ${reply.score} reached the threshold of ${reply.threshold}${rules === '' ? '' : ` (${rules})`}`;
}

function describeShipments(ids: readonly string[]): string {
  if (ids.length === 0) return 'a shipment was';
  return ids.length === 1 ? `shipment ${ids[0]} was` : `shipments ${ids.join(', ')} were`;
}

function orderReasonOf(reason: string): OrderReason {
  return REASONS.has(reason) ? (reason as OrderReason) : 'timeout';
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

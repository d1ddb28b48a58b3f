import { createAggregateLoader, type EventStore } from '../../event-store/index.ts';
import type {
  Envelope,
  HandlerContext,
  HandlerGroup,
  MessageHandler,
  RetryPolicyOptions,
} from '../../messaging/index.ts';
import { ShipmentDispatched, type ShipmentDispatchedData } from '../fulfillment/messages.ts';
import {
  CustomerNotified,
  DeliverWebhook,
  VendorNotified,
  type CustomerNotifiedData,
  type DeliverWebhookData,
  type VendorNotifiedData,
} from './messages.ts';
import {
  CUSTOMER_NOTIFIED,
  customerNotifiedId,
  evolveNotification,
  INITIAL_NOTIFICATION_STATE,
  notificationStreamId,
  SHIPMENT_EMAIL_DEFERRED,
  shipmentEmailDeferredId,
  VENDOR_NOTIFIED,
  vendorNotifiedId,
  type NotificationState,
  type ShipmentEmailDeferredData,
} from './domain/notification.ts';
import {
  orderCancelledEmail,
  orderConfirmedEmail,
  orderDeliveredEmail,
  orderRejectedEmail,
  shipmentDispatchedEmail,
  type CustomerEmail,
  type OrderConfirmedView,
  type OrderDeliveredView,
  type OrderEndedView,
} from './domain/templates.ts';
import {
  orderConfirmedWebhook,
  shipmentDispatchedWebhook,
  vendorsOf,
  webhookBody,
} from './domain/vendor-webhooks.ts';
import type { Mailer } from './mailer.ts';
import type { VendorWebhookEndpoints } from './vendor-webhook-endpoints.ts';
import { postWebhook } from '../../kernel/webhooks/webhook-client.ts';

export const NOTIFICATIONS_GROUP = 'notifications';

/** The orders context's lifecycle events this group reacts to (its published contract). */
export const ORDER_EVENT_TYPES = {
  confirmed: 'orders.OrderConfirmed',
  rejected: 'orders.OrderRejected',
  cancelled: 'orders.OrderCancelled',
  delivered: 'orders.OrderDelivered',
} as const;

/**
 * Webhooks wait for slow vendors: 8 attempts, 1 s then doubling up to 5 min (about 2 min in all
 * before the dead letter), unlike the default policy's quick retries for local conflicts.
 */
export const NOTIFICATIONS_RETRY_POLICY: Partial<RetryPolicyOptions> = Object.freeze({
  maxAttempts: 8,
  initialDelayMs: 1_000,
  maxDelayMs: 300_000,
});

export interface NotificationHandlersOptions {
  store: EventStore;
  mailer: Mailer;
  endpoints: VendorWebhookEndpoints;
  /** Per webhook attempt. @default 5000 (ORDERFLOW_WEBHOOK_TIMEOUT_MS) */
  webhookTimeoutMs: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Overrides NOTIFICATIONS_RETRY_POLICY (tests use short delays). */
  retry?: Partial<RetryPolicyOptions>;
}

/**
 * The notifications consumer group. On an order's lifecycle events it e-mails the customer (one
 * CustomerNotified per notification id: a message handled again sends nothing) and fans out one
 * `DeliverWebhook` per vendor with an endpoint; each webhook is then POSTed by its own message, so
 * that a failing vendor is retried (and dead-lettered) alone, with `attempts` its own.
 *
 * Notification facts are independent of each other, so they are appended with `any` expected
 * version and deterministic event ids (the store skips an id it has): e-mails (keyed by order) and
 * webhooks (keyed by order and vendor) run in parallel without version conflicts.
 */
export function notificationHandlers(options: NotificationHandlersOptions): HandlerGroup {
  const { mailer, endpoints, webhookTimeoutMs } = options;
  const loader = createAggregateLoader<NotificationState>({
    store: options.store,
    initial: () => INITIAL_NOTIFICATION_STATE,
    evolve: evolveNotification,
  });

  /** Sends the e-mail unless it was sent already; true when it was sent now. */
  async function notifyCustomer(context: HandlerContext, email: CustomerEmail): Promise<boolean> {
    const streamId = notificationStreamId(email.orderId);
    const { state } = await loader.load(streamId);
    if (state.sent.has(email.notificationId)) return false;
    await mailer.send(email);
    const id = customerNotifiedId(email.notificationId);
    const data: CustomerNotifiedData = {
      orderId: email.orderId,
      notificationId: email.notificationId,
      template: email.template,
      channel: 'email',
      to: email.to,
    };
    context.append(
      streamId,
      [{ id, type: CUSTOMER_NOTIFIED, data, metadata: { context: 'notifications' } }],
      'any',
    );
    context.send({ type: CustomerNotified.type, id, data, partitionKey: email.orderId });
    return true;
  }

  /** One DeliverWebhook per webhook whose vendor has an endpoint; vendors without one get none. */
  async function fanOut(context: HandlerContext, webhooks: readonly DeliverWebhookData[]): Promise<void> {
    for (const webhook of webhooks) {
      if ((await endpoints.resolve(webhook.vendorId)) === undefined) continue;
      context.send({
        type: DeliverWebhook.type,
        id: `${webhook.notificationId}:DeliverWebhook`,
        data: webhook,
        partitionKey: `${webhook.orderId}:${webhook.vendorId}`,
      });
    }
  }

  const confirmed: MessageHandler<OrderConfirmedView> = async (
    message: Envelope<OrderConfirmedView>,
    context,
  ) => {
    const order = message.data;
    const email = orderConfirmedEmail(order, message.time);
    if (!(await notifyCustomer(context, email))) return;
    await fanOut(
      context,
      vendorsOf(order).map((vendorId) => orderConfirmedWebhook(order, vendorId, message.time)),
    );
    // Shipments that overtook the confirmation: their e-mails go now, in the same unit of work.
    const { state } = await loader.load(notificationStreamId(order.orderId));
    for (const { shipment, occurredAt } of state.deferred) {
      await sendShipmentDispatched(context, shipment, email.to, occurredAt);
    }
  };

  async function sendShipmentDispatched(
    context: HandlerContext,
    shipment: ShipmentDispatchedData,
    recipient: string,
    occurredAt: string,
  ): Promise<void> {
    if (!(await notifyCustomer(context, shipmentDispatchedEmail(shipment, recipient, occurredAt)))) return;
    await fanOut(context, [shipmentDispatchedWebhook(shipment, occurredAt)]);
  }

  const emailOnly =
    <T>(render: (data: T, occurredAt: string) => CustomerEmail): MessageHandler<T> =>
    async (message: Envelope<T>, context) => {
      await notifyCustomer(context, render(message.data, message.time));
    };

  const dispatched: MessageHandler<ShipmentDispatchedData> = async (
    message: Envelope<ShipmentDispatchedData>,
    context,
  ) => {
    const shipment = message.data;
    const streamId = notificationStreamId(shipment.orderId);
    const { state } = await loader.load(streamId);
    if (state.recipient === undefined) {
      // The address comes with the order's confirmation, through another stream (orders, not
      // fulfillment): in the distributed mode the dispatch can overtake it. Keep the e-mail until then
      // (retrying would hold the confirmation back: it has the same partition key).
      const data: ShipmentEmailDeferredData = { shipment, occurredAt: message.time };
      context.append(
        streamId,
        [
          {
            id: shipmentEmailDeferredId(shipment.shipmentId),
            type: SHIPMENT_EMAIL_DEFERRED,
            data,
            metadata: { context: 'notifications' },
          },
        ],
        'any',
      );
      return;
    }
    await sendShipmentDispatched(context, shipment, state.recipient, message.time);
  };

  const deliverWebhook: MessageHandler<DeliverWebhookData> = async (
    message: Envelope<DeliverWebhookData>,
    context,
  ) => {
    const webhook = message.data;
    const streamId = notificationStreamId(webhook.orderId);
    const { state } = await loader.load(streamId);
    if (state.sent.has(webhook.notificationId)) return;
    // Resolved now, not at fan-out: a corrected URL applies to the retries and to a redrive.
    const endpoint = await endpoints.resolve(webhook.vendorId);
    if (endpoint === undefined) return;
    const status = await postWebhook(
      {
        url: endpoint.url,
        secret: endpoint.secret,
        webhookId: webhook.notificationId,
        timestamp: Math.floor(context.now().getTime() / 1000),
        body: webhookBody(webhook),
      },
      { timeoutMs: webhookTimeoutMs, ...(options.fetch !== undefined ? { fetch: options.fetch } : {}) },
    );
    const id = vendorNotifiedId(webhook.notificationId);
    const data: VendorNotifiedData = {
      orderId: webhook.orderId,
      vendorId: webhook.vendorId,
      notificationId: webhook.notificationId,
      event: webhook.event,
      url: endpoint.url,
      status,
      attempts: context.deliveryCount,
    };
    context.append(
      streamId,
      [{ id, type: VENDOR_NOTIFIED, data, metadata: { context: 'notifications' } }],
      'any',
    );
    context.send({ type: VendorNotified.type, id, data, partitionKey: webhook.orderId });
  };

  return {
    group: NOTIFICATIONS_GROUP,
    retry: { ...NOTIFICATIONS_RETRY_POLICY, ...options.retry },
    handlers: {
      [ORDER_EVENT_TYPES.confirmed]: confirmed,
      [ORDER_EVENT_TYPES.rejected]: emailOnly<OrderEndedView>(orderRejectedEmail),
      [ORDER_EVENT_TYPES.cancelled]: emailOnly<OrderEndedView>(orderCancelledEmail),
      [ORDER_EVENT_TYPES.delivered]: emailOnly<OrderDeliveredView>(orderDeliveredEmail),
      [ShipmentDispatched.type]: dispatched,
      [DeliverWebhook.type]: deliverWebhook,
    },
  };
}

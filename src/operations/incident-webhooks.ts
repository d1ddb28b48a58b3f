import type { EventStore } from '../event-store/index.ts';
import type { Envelope } from '../kernel/envelope.ts';
import { postWebhook } from '../kernel/webhooks/webhook-client.ts';
import { deriveIncidentWebhookSecret } from '../kernel/webhooks/webhook-signature.ts';
import type { HandlerContext, HandlerGroup, RetryPolicyOptions } from '../messaging/index.ts';
import { DeliverIncidentWebhook, type DeliverIncidentWebhookData } from './messages.ts';

export const INCIDENT_WEBHOOKS_GROUP = 'operations-webhooks';
export const INCIDENT_WEBHOOK_DELIVERED = 'IncidentWebhookDelivered';

/** An on-call tool may be slow or briefly down: 10 attempts, 1 s doubling up to 2 min (about 10 min in all). */
export const INCIDENT_WEBHOOK_RETRY_POLICY: Partial<RetryPolicyOptions> = Object.freeze({
  maxAttempts: 10,
  initialDelayMs: 1_000,
  maxDelayMs: 120_000,
});

export interface IncidentWebhookHandlersOptions {
  store: EventStore;
  url: string;
  adminKey: string;
  timeoutMs: number;
  retry?: Partial<RetryPolicyOptions>;
}

export function incidentWebhookDeliveriesStreamId(incidentId: string): string {
  return `incident-webhooks-${incidentId}`;
}

/**
 * Delivers incident transitions to ORDERFLOW_INCIDENT_WEBHOOK_URL (group `operations-webhooks`): a
 * signed POST like the vendor webhooks (`webhook-id` = the message's webhook id, the same on every
 * attempt; the body's `dedup_key` = the incident id), retried with backoff, then dead-lettered;
 * each delivery recorded in `incident-webhooks-<incidentId>`.
 */
export function incidentWebhookHandlers(options: IncidentWebhookHandlersOptions): HandlerGroup {
  const secret = deriveIncidentWebhookSecret(options.adminKey);

  async function deliver(
    message: Envelope<DeliverIncidentWebhookData>,
    context: HandlerContext,
  ): Promise<void> {
    const webhook = message.data;
    const status = await postWebhook(
      {
        url: options.url,
        secret,
        webhookId: webhook.webhookId,
        timestamp: Math.floor(context.now().getTime() / 1000),
        body: JSON.stringify(webhook.body),
      },
      { timeoutMs: options.timeoutMs, userAgent: 'Orderflow-Incidents/1' },
    );
    context.append(incidentWebhookDeliveriesStreamId(webhook.incidentId), [
      {
        type: INCIDENT_WEBHOOK_DELIVERED,
        data: {
          incidentId: webhook.incidentId,
          webhookId: webhook.webhookId,
          eventAction: webhook.eventAction,
          status,
          attempts: context.deliveryCount,
        },
      },
    ]);
  }

  return {
    group: INCIDENT_WEBHOOKS_GROUP,
    handlers: { [DeliverIncidentWebhook.type]: deliver },
    retry: { ...INCIDENT_WEBHOOK_RETRY_POLICY, ...options.retry },
  };
}

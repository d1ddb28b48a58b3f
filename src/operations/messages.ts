import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../messaging/index.ts';

/**
 * The operations role's public contract: the message that carries incident transitions to the
 * incident webhook, and the names of what it records in the store (alert states, incidents), for
 * anyone who reads them (the console, exports).
 */

/** Alert state transitions, in one stream, so a new leader (or a restart) resumes where the last left. */
export const ALERTS_STREAM = 'operations-alerts';
export const ALERT_STATE_CHANGED = 'AlertStateChanged';

export const INCIDENT_STREAM_PREFIX = 'incident-';
export const INCIDENT_EVENTS = {
  opened: 'IncidentOpened',
  alertChanged: 'IncidentAlertChanged',
  impactAssessed: 'IncidentImpactAssessed',
  acknowledged: 'IncidentAcknowledged',
  noteAdded: 'IncidentNoteAdded',
  resolved: 'IncidentResolved',
} as const;

export function incidentStreamId(incidentId: string): string {
  return `${INCIDENT_STREAM_PREFIX}${incidentId}`;
}

export const INCIDENT_WEBHOOK_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;
export type IncidentWebhookAction = (typeof INCIDENT_WEBHOOK_ACTIONS)[number];

export const DeliverIncidentWebhookData = Type.Object(
  {
    incidentId: Type.String(),
    /** The webhook's `webhook-id`: `<incidentId>:<action>:<incident stream version>`, the same on every attempt. */
    webhookId: Type.String(),
    eventAction: Type.Union(INCIDENT_WEBHOOK_ACTIONS.map((action) => Type.Literal(action))),
    /** The PagerDuty Events v2 shaped body, POSTed as it is. */
    body: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type DeliverIncidentWebhookData = Static<typeof DeliverIncidentWebhookData>;

export const DeliverIncidentWebhook = defineMessage({
  type: 'operations.DeliverIncidentWebhook',
  kind: 'command',
  schema: DeliverIncidentWebhookData,
  description:
    'Internal to operations: POST one incident transition (trigger, acknowledge, resolve) to ORDERFLOW_INCIDENT_WEBHOOK_URL, signed, retried with backoff, then dead-lettered. Partition key: the incident id, so its transitions arrive in order.',
});

export const OPERATIONS_MESSAGES = [DeliverIncidentWebhook] as const;

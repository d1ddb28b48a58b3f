import { isFinalHead, type EventStore, type StreamAppend } from '../../event-store/index.ts';
import { AppError, ERROR_CODES, isConcurrencyError } from '../../kernel/errors.ts';
import { createEnvelope, type Envelope, type MessageCatalog } from '../../messaging/index.ts';
import {
  DeliverIncidentWebhook,
  INCIDENT_EVENTS,
  incidentStreamId,
  type DeliverIncidentWebhookData,
  type IncidentWebhookAction,
} from '../messages.ts';
import {
  evolveIncident,
  foldIncident,
  type Incident,
  type IncidentEvent,
  type IncidentStatus,
  type TimelineEntry,
} from './incident.ts';
import { pagerDutyEvent } from './pagerduty-event.ts';

export const OPERATIONS_SOURCE = 'orderflow/operations';

/** What operators did in a time range (dead-letter redrives, saga retries, simulator changes). */
export type OperatorActionsReader = (range: { from: string; to: string }) => Promise<TimelineEntry[]>;

export interface IncidentRepositoryOptions {
  store: EventStore;
  messages: MessageCatalog;
  /** Whether ORDERFLOW_INCIDENT_WEBHOOK_URL is set: transitions are then sent to it. */
  webhookEnabled: boolean;
  /** The webhook payload's `source`, e.g. `orderflow/<namespace>`. */
  source: string;
  operatorActions: OperatorActionsReader;
  now: () => Date;
}

/** One write to an incident stream, with the webhooks it triggers. */
export interface IncidentWrite {
  incident: Incident;
  expectedVersion: number;
  events: readonly IncidentEvent[];
  webhooks: readonly IncidentWebhookAction[];
}

const CONFLICT_RETRIES = 5;
const PAGE = 1000;

/**
 * Incidents in the store: listing and loading (with the operator actions of their time merged into
 * the timeline), the operator's commands (acknowledge, resolve, note), and the unit of work that
 * writes an incident's events together with its webhook messages (the outbox: a transition and its
 * notification commit together or not at all).
 */
export function createIncidentRepository(options: IncidentRepositoryOptions) {
  const { store, messages, now } = options;

  async function load(incidentId: string): Promise<Incident | undefined> {
    return foldIncident(await store.readStream(incidentStreamId(incidentId)));
  }

  async function require(incidentId: string): Promise<Incident> {
    const incident = await load(incidentId);
    if (incident === undefined) {
      throw new AppError(ERROR_CODES.INCIDENT_NOT_FOUND, `no incident ${incidentId}`, {
        details: { incidentId },
      });
    }
    return incident;
  }

  // Incident ids seen so far, and the position read up to: each listing reads only what is new, not
  // the whole store (the operations role lists every tick).
  const knownIds: string[] = [];
  let scannedUpTo = -1;

  /** Every incident id, oldest first. */
  async function ids(): Promise<string[]> {
    // Checked before the pages are read: once they are, the scan may skip ahead to a final head.
    const head = await store.headPosition();
    const final = head > scannedUpTo && (await isFinalHead(store, head));
    for (;;) {
      const page = await store.readAll({
        after: scannedUpTo,
        maxCount: PAGE,
        types: [INCIDENT_EVENTS.opened],
      });
      for (const event of page) knownIds.push((event.data as { incidentId: string }).incidentId);
      if (page.length > 0) scannedUpTo = page[page.length - 1]!.position;
      if (page.length < PAGE) break;
    }
    if (final) scannedUpTo = Math.max(scannedUpTo, head);
    return [...knownIds];
  }

  async function list(status?: IncidentStatus): Promise<Incident[]> {
    const incidents = await Promise.all((await ids()).map((id) => load(id)));
    return incidents
      .filter((incident): incident is Incident => incident !== undefined)
      .filter((incident) => status === undefined || incident.status === status)
      .sort((a, b) => b.openedAt.localeCompare(a.openedAt));
  }

  /** The incident's own timeline with the operator actions of its time, in time order. */
  async function timeline(incident: Incident): Promise<TimelineEntry[]> {
    const to = incident.resolvedAt ?? now().toISOString();
    const actions = await options.operatorActions({ from: incident.openedAt, to });
    return [...incident.timeline, ...actions].sort((a, b) => a.at.localeCompare(b.at));
  }

  function webhookMessages(write: IncidentWrite): Envelope[] {
    if (!options.webhookEnabled) return [];
    const at = now().toISOString();
    const version = write.expectedVersion + write.events.length;
    return write.webhooks.map((action) => {
      const data: DeliverIncidentWebhookData = {
        incidentId: write.incident.id,
        webhookId: `${write.incident.id}:${action}:${version}`,
        eventAction: action,
        body: pagerDutyEvent(write.incident, action, { source: options.source, at }),
      };
      messages.validate(DeliverIncidentWebhook.type, data);
      return createEnvelope(
        {
          type: DeliverIncidentWebhook.type,
          data,
          id: data.webhookId,
          correlationId: write.incident.id,
          partitionKey: write.incident.id,
        },
        { source: OPERATIONS_SOURCE, now },
      );
    });
  }

  /** The appends and outbox messages of some incident writes, for one unit of work. */
  function unitOf(writes: readonly IncidentWrite[]): { appends: StreamAppend[]; messages: Envelope[] } {
    return {
      appends: writes.map((write) => ({
        streamId: incidentStreamId(write.incident.id),
        events: write.events.map((event) => ({
          type: event.type,
          data: event.data,
          metadata: { correlationId: write.incident.id },
        })),
        expectedVersion: write.expectedVersion === -1 ? 'no_stream' : write.expectedVersion,
      })),
      messages: writes.flatMap(webhookMessages),
    };
  }

  /** Applies an operator's command, retrying when the operations role wrote in between. */
  async function command(
    incidentId: string,
    decide: (incident: Incident) => { events: IncidentEvent[]; webhooks: IncidentWebhookAction[] },
  ): Promise<Incident> {
    for (let attempt = 1; ; attempt++) {
      const incident = await require(incidentId);
      const { events, webhooks } = decide(incident);
      if (events.length === 0) return incident;
      let after = incident;
      for (const [index, event] of events.entries()) {
        after = evolveIncident(after, event, incident.version + index + 1)!;
      }
      try {
        await store.commit(
          unitOf([{ incident: after, expectedVersion: incident.version, events, webhooks }]),
        );
        return after;
      } catch (error) {
        if (!isConcurrencyError(error) || attempt >= CONFLICT_RETRIES) throw error;
      }
    }
  }

  function refuseResolved(incident: Incident, what: string): void {
    if (incident.status === 'resolved') {
      throw new AppError(
        ERROR_CODES.INCIDENT_ALREADY_RESOLVED,
        `incident ${incident.id} was resolved at ${incident.resolvedAt}: it cannot be ${what}`,
        { details: { incidentId: incident.id } },
      );
    }
  }

  return {
    load,
    require,
    list,
    timeline,
    unitOf,
    acknowledge: (incidentId: string, note: string) =>
      command(incidentId, (incident) => {
        refuseResolved(incident, 'acknowledged');
        const at = now().toISOString();
        // Acknowledging twice only adds the note: the pager was told once.
        if (incident.status === 'acknowledged') {
          return note === ''
            ? { events: [], webhooks: [] }
            : { events: [{ type: INCIDENT_EVENTS.noteAdded, data: { text: note, at } }], webhooks: [] };
        }
        return {
          events: [{ type: INCIDENT_EVENTS.acknowledged, data: { note, at } }],
          webhooks: ['acknowledge'],
        };
      }),
    resolve: (incidentId: string, note: string) =>
      command(incidentId, (incident) => {
        refuseResolved(incident, 'resolved again');
        const at = now().toISOString();
        return {
          events: [{ type: INCIDENT_EVENTS.resolved, data: { note, automatic: false, at } }],
          webhooks: ['resolve'],
        };
      }),
    addNote: (incidentId: string, text: string) =>
      command(incidentId, () => ({
        events: [{ type: INCIDENT_EVENTS.noteAdded, data: { text, at: now().toISOString() } }],
        webhooks: [],
      })),
  };
}

export type IncidentRepository = ReturnType<typeof createIncidentRepository>;

import { INCIDENT_EVENTS, type IncidentWebhookAction } from '../messages.ts';
import {
  evolveIncident,
  type AffectedOrder,
  type AlertRef,
  type AlertStateName,
  type Incident,
  type IncidentEvent,
} from './incident.ts';

/** An alert's state change, as the evaluator found it, with the rule behind it. */
export interface AlertTransition {
  rule: AlertRef & { group: string };
  from: AlertStateName;
  to: AlertStateName;
  at: string;
  value: number | null;
  /** When the condition first held (the pending state began), if known. */
  pendingSince: string | null;
}

export interface DecideIncidentsInput {
  /** Incidents not resolved yet, as stored now. */
  open: readonly Incident[];
  transitions: readonly AlertTransition[];
  /** Orders at risk now (KPI projection). */
  atRisk: readonly AffectedOrder[];
  now: Date;
  /** ORDERFLOW_INCIDENT_QUIET_MS */
  quietMs: number;
  newIncidentId: () => string;
}

/** What to write to one incident's stream, and which webhooks to send for it. */
export interface IncidentDecision {
  incidentId: string;
  /** `-1` for a new incident (the stream must not exist). */
  expectedVersion: number;
  events: IncidentEvent[];
  webhooks: IncidentWebhookAction[];
  /** The incident after the events. */
  incident: Incident;
}

/**
 * One evaluation's worth of incident decisions (pure): a firing alert opens an incident or joins the
 * open one of its group; every transition of a group's alert goes into its incident's timeline; an
 * incident none of whose alerts has fired for the quiet period resolves itself; the orders at risk
 * join every open incident's impact once.
 */
export function decideIncidents(input: DecideIncidentsInput): IncidentDecision[] {
  const decisions = new Map<string, IncidentDecision>();
  const byGroup = new Map<string, Incident>();
  for (const incident of input.open) byGroup.set(incident.group, incident);

  const apply = (incident: Incident, event: IncidentEvent, webhook?: IncidentWebhookAction): Incident => {
    const decision = decisions.get(incident.id) ?? {
      incidentId: incident.id,
      expectedVersion: incident.version,
      events: [],
      webhooks: [],
      incident,
    };
    const next = evolveIncident(incident, event, decision.incident.version + 1)!;
    decision.events.push(event);
    if (webhook !== undefined && !decision.webhooks.includes(webhook)) decision.webhooks.push(webhook);
    decision.incident = next;
    decisions.set(incident.id, decision);
    byGroup.set(next.group, next);
    return next;
  };

  for (const transition of input.transitions) {
    const { rule } = transition;
    const incident = byGroup.get(rule.group);
    const alert: AlertRef = {
      name: rule.name,
      severity: rule.severity,
      summary: rule.summary,
      runbook: rule.runbook,
    };
    if (incident !== undefined) {
      const before = incident.severity;
      const next = apply(incident, {
        type: INCIDENT_EVENTS.alertChanged,
        data: { alert, from: transition.from, to: transition.to, value: transition.value, at: transition.at },
      });
      // A worse alert joining changes what the pager shows: trigger again (same dedup_key).
      if (next.severity !== before) decisions.get(next.id)!.webhooks.push('trigger');
      continue;
    }
    if (transition.to !== 'firing') continue;
    const incidentId = input.newIncidentId();
    const event: IncidentEvent = {
      type: INCIDENT_EVENTS.opened,
      data: {
        incidentId,
        group: rule.group,
        title: rule.summary,
        severity: rule.severity,
        alert,
        value: transition.value,
        pendingSince: transition.pendingSince,
        openedAt: transition.at,
      },
    };
    const opened = evolveIncident(undefined, event, 0)!;
    decisions.set(incidentId, {
      incidentId,
      expectedVersion: -1,
      events: [event],
      webhooks: ['trigger'],
      incident: opened,
    });
    byGroup.set(rule.group, opened);
  }

  const nowIso = input.now.toISOString();
  for (const incident of [...byGroup.values()]) {
    if (incident.status === 'resolved') continue;
    if (
      incident.quietSince !== undefined &&
      input.now.getTime() - Date.parse(incident.quietSince) >= input.quietMs
    ) {
      apply(
        incident,
        {
          type: INCIDENT_EVENTS.resolved,
          data: {
            note: `no alert firing since ${incident.quietSince} (quiet period ${Math.round(input.quietMs / 1000)} s)`,
            automatic: true,
            at: nowIso,
          },
        },
        'resolve',
      );
      continue;
    }
    const known = new Set(incident.affected.map((order) => order.orderId));
    const fresh = input.atRisk.filter((order) => !known.has(order.orderId));
    if (fresh.length > 0) {
      apply(incident, { type: INCIDENT_EVENTS.impactAssessed, data: { orders: fresh, at: nowIso } });
    }
  }
  return [...decisions.values()];
}

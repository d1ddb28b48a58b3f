import type { StoredEvent } from '../../event-store/index.ts';
import { INCIDENT_EVENTS } from '../messages.ts';

/**
 * An incident, event-sourced in `incident-<id>` (DESIGN.md §9): opened by a firing alert, joined by
 * the other alerts of its group, acknowledged, annotated, resolved by an operator or by itself after
 * a quiet period. Its impact is computed from the orders found at risk while it was open, never typed.
 */

export type Severity = 'critical' | 'high' | 'medium' | 'low';
export type AlertStateName = 'inactive' | 'pending' | 'firing';
export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';

/** Worst first: an incident's severity is its worst alert's. */
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];

export function worseOf(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) <= SEVERITIES.indexOf(b) ? a : b;
}

/** What an incident keeps of the rule behind an alert. */
export interface AlertRef {
  name: string;
  severity: Severity;
  summary: string;
  runbook: string;
}

/** An order found at risk while the incident was open: what it stood to lose, and where. */
export interface AffectedOrder {
  orderId: string;
  region: string;
  currency: string;
  /** Major units. */
  amount: number;
  vendors: string[];
}

export interface IncidentOpenedData {
  incidentId: string;
  group: string;
  title: string;
  severity: Severity;
  alert: AlertRef;
  value: number | null;
  /** When the opening alert's condition first held (its pending state began). */
  pendingSince: string | null;
  openedAt: string;
}
export interface IncidentAlertChangedData {
  alert: AlertRef;
  from: AlertStateName;
  to: AlertStateName;
  value: number | null;
  at: string;
}
export interface IncidentImpactAssessedData {
  orders: AffectedOrder[];
  at: string;
}
export interface IncidentAcknowledgedData {
  note: string;
  at: string;
}
export interface IncidentNoteAddedData {
  text: string;
  at: string;
}
export interface IncidentResolvedData {
  note: string;
  /** True when it resolved itself after the quiet period. */
  automatic: boolean;
  at: string;
}

export type IncidentEvent =
  | { type: typeof INCIDENT_EVENTS.opened; data: IncidentOpenedData }
  | { type: typeof INCIDENT_EVENTS.alertChanged; data: IncidentAlertChangedData }
  | { type: typeof INCIDENT_EVENTS.impactAssessed; data: IncidentImpactAssessedData }
  | { type: typeof INCIDENT_EVENTS.acknowledged; data: IncidentAcknowledgedData }
  | { type: typeof INCIDENT_EVENTS.noteAdded; data: IncidentNoteAddedData }
  | { type: typeof INCIDENT_EVENTS.resolved; data: IncidentResolvedData };

export interface IncidentAlert extends AlertRef {
  state: AlertStateName;
  since: string;
}

export interface TimelineEntry {
  at: string;
  kind: string;
  text: string;
}

export interface Incident {
  id: string;
  group: string;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  openedAt: string;
  acknowledgedAt?: string;
  resolvedAt?: string;
  /** Every alert that joined, with its current state. */
  alerts: IncidentAlert[];
  /** When the last of its firing alerts stopped firing; undefined while one fires. */
  quietSince?: string;
  affected: AffectedOrder[];
  timeline: TimelineEntry[];
  /** Stream version: for optimistic concurrency between the operations role and the admin API. */
  version: number;
}

function describeAlertChange(data: IncidentAlertChangedData): string {
  const value = data.value === null ? '' : ` (value ${formatValue(data.value)})`;
  return `alert ${data.alert.name} ${data.from} → ${data.to}${value}: ${data.alert.summary}`;
}

export function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

/** Folds one event into the incident (undefined before IncidentOpened). */
export function evolveIncident(
  incident: Incident | undefined,
  event: IncidentEvent,
  version: number,
): Incident | undefined {
  if (event.type === INCIDENT_EVENTS.opened) {
    const { data } = event;
    const timeline: TimelineEntry[] = [];
    if (data.pendingSince !== null && data.pendingSince < data.openedAt) {
      timeline.push({ at: data.pendingSince, kind: 'alert', text: `alert ${data.alert.name} pending` });
    }
    timeline.push({
      at: data.openedAt,
      kind: 'opened',
      text: `incident opened (${data.severity}): alert ${data.alert.name} firing${data.value === null ? '' : ` (value ${formatValue(data.value)})`}: ${data.alert.summary}`,
    });
    return {
      id: data.incidentId,
      group: data.group,
      title: data.title,
      severity: data.severity,
      status: 'open',
      openedAt: data.openedAt,
      alerts: [{ ...data.alert, state: 'firing', since: data.openedAt }],
      affected: [],
      timeline,
      version,
    };
  }
  if (incident === undefined) return undefined;
  const next: Incident = { ...incident, version };
  switch (event.type) {
    case INCIDENT_EVENTS.alertChanged: {
      const { data } = event;
      const others = incident.alerts.filter((alert) => alert.name !== data.alert.name);
      next.alerts = [...others, { ...data.alert, state: data.to, since: data.at }];
      next.severity =
        data.to === 'firing' ? worseOf(incident.severity, data.alert.severity) : incident.severity;
      const firing = next.alerts.some((alert) => alert.state === 'firing');
      if (firing) delete next.quietSince;
      else if (incident.quietSince === undefined) next.quietSince = data.at;
      next.timeline = [...incident.timeline, { at: data.at, kind: 'alert', text: describeAlertChange(data) }];
      return next;
    }
    case INCIDENT_EVENTS.impactAssessed: {
      const { data } = event;
      next.affected = [...incident.affected, ...data.orders];
      const total = data.orders.length;
      next.timeline = [
        ...incident.timeline,
        { at: data.at, kind: 'impact', text: `${total} more order${total === 1 ? '' : 's'} at risk` },
      ];
      return next;
    }
    case INCIDENT_EVENTS.acknowledged:
      next.status = 'acknowledged';
      next.acknowledgedAt = event.data.at;
      next.timeline = [
        ...incident.timeline,
        { at: event.data.at, kind: 'acknowledged', text: withNote('acknowledged', event.data.note) },
      ];
      return next;
    case INCIDENT_EVENTS.noteAdded:
      next.timeline = [...incident.timeline, { at: event.data.at, kind: 'note', text: event.data.text }];
      return next;
    case INCIDENT_EVENTS.resolved:
      next.status = 'resolved';
      next.resolvedAt = event.data.at;
      next.timeline = [
        ...incident.timeline,
        { at: event.data.at, kind: 'resolved', text: withNote('resolved', event.data.note) },
      ];
      return next;
    default:
      return incident;
  }
}

function withNote(what: string, note: string): string {
  return note === '' ? what : `${what}: ${note}`;
}

export function foldIncident(events: readonly StoredEvent[]): Incident | undefined {
  let incident: Incident | undefined;
  for (const event of events) {
    incident = evolveIncident(incident, event as unknown as IncidentEvent, event.version);
  }
  return incident;
}

/** Impact, computed from the affected orders (DESIGN.md §9). */
export interface IncidentImpact {
  ordersAffected: number;
  revenueAtRisk: { currency: string; amount: number }[];
  regions: string[];
  vendors: string[];
}

export function impactOf(incident: Pick<Incident, 'affected'>): IncidentImpact {
  const byCurrency = new Map<string, number>();
  const regions = new Set<string>();
  const vendors = new Set<string>();
  for (const order of incident.affected) {
    byCurrency.set(order.currency, (byCurrency.get(order.currency) ?? 0) + order.amount);
    regions.add(order.region);
    for (const vendor of order.vendors) vendors.add(vendor);
  }
  return {
    ordersAffected: incident.affected.length,
    revenueAtRisk: [...byCurrency]
      .sort(([a], [b]) => a.localeCompare(b))
      // Sums of decimals: back to cents, so 0.1 + 0.2 reads 0.3.
      .map(([currency, amount]) => ({ currency, amount: Math.round(amount * 100) / 100 })),
    regions: [...regions].sort(),
    vendors: [...vendors].sort(),
  };
}

import { describe, expect, it } from 'vitest';
import { INCIDENT_EVENTS } from '../messages.ts';
import { decideIncidents, type AlertTransition, type IncidentDecision } from './decide-incidents.ts';
import { evolveIncident, impactOf, type AffectedOrder, type Incident } from './incident.ts';
import { pagerDutyEvent } from './pagerduty-event.ts';
import { postmortemDraft } from './postmortem.ts';

const T0 = Date.parse('2026-12-02T10:00:00.000Z');
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

const payments = {
  name: 'payment_authorization_availability',
  severity: 'critical' as const,
  group: 'order-flow',
  summary: 'Payment authorizations are failing',
  runbook: 'docs/runbooks/payment_authorization_availability.md',
};
const deadLetters = {
  name: 'dead_letters_parked',
  severity: 'medium' as const,
  group: 'order-flow',
  summary: 'Messages are parked as dead letters',
  runbook: 'docs/runbooks/dead_letters_parked.md',
};
const latency = {
  ...payments,
  name: 'intake_latency',
  severity: 'high' as const,
  group: 'intake',
  summary: 'Intake is slow',
};

function transition(
  rule: AlertTransition['rule'],
  from: string,
  to: string,
  seconds: number,
  value = 1,
): AlertTransition {
  return {
    rule,
    from: from as AlertTransition['from'],
    to: to as AlertTransition['to'],
    at: at(seconds),
    value,
    pendingSince: at(seconds - 10),
  };
}

function order(
  id: string,
  amount: number,
  currency = 'USD',
  region = 'NA',
  vendors = ['northwind'],
): AffectedOrder {
  return { orderId: id, region, currency, amount, vendors };
}

let ids = 0;
const newIncidentId = (): string => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`;

/** Runs decideIncidents and keeps the incidents as the store would. */
function decide(
  open: Incident[],
  transitions: AlertTransition[],
  seconds: number,
  atRisk: AffectedOrder[] = [],
  quietMs = 60_000,
): { decisions: IncidentDecision[]; open: Incident[] } {
  const decisions = decideIncidents({
    open,
    transitions,
    atRisk,
    now: new Date(T0 + seconds * 1000),
    quietMs,
    newIncidentId,
  });
  const byId = new Map(open.map((incident) => [incident.id, incident]));
  for (const decision of decisions) byId.set(decision.incidentId, decision.incident);
  return { decisions, open: [...byId.values()].filter((incident) => incident.status !== 'resolved') };
}

describe('decideIncidents', () => {
  it('opens an incident on a firing alert, not on a pending one, and triggers the webhook', () => {
    expect(decide([], [transition(payments, 'inactive', 'pending', 0)], 0).decisions).toEqual([]);
    const { decisions } = decide([], [transition(payments, 'pending', 'firing', 10, 0.4)], 10);
    expect(decisions).toHaveLength(1);
    const [opened] = decisions;
    expect(opened!.expectedVersion).toBe(-1);
    expect(opened!.webhooks).toEqual(['trigger']);
    expect(opened!.incident).toMatchObject({
      title: 'Payment authorizations are failing',
      severity: 'critical',
      status: 'open',
      group: 'order-flow',
      openedAt: at(10),
      alerts: [{ name: payments.name, state: 'firing' }],
    });
    expect(opened!.incident.timeline.map((entry) => entry.kind)).toEqual(['alert', 'opened']);
    expect(opened!.incident.timeline[0]).toEqual({
      at: at(0),
      kind: 'alert',
      text: `alert ${payments.name} pending`,
    });
  });

  it('joins the open incident of the group; a worse alert raises the severity and triggers again', () => {
    let state = decide([], [transition(deadLetters, 'pending', 'firing', 0)], 0);
    expect(state.open[0]!.severity).toBe('medium');
    state = decide(state.open, [transition(payments, 'pending', 'firing', 5)], 5);
    expect(state.decisions).toHaveLength(1);
    expect(state.decisions[0]!.events.map((e) => e.type)).toEqual([INCIDENT_EVENTS.alertChanged]);
    expect(state.decisions[0]!.webhooks).toEqual(['trigger']);
    expect(state.open).toHaveLength(1);
    expect(state.open[0]!.severity).toBe('critical');
    expect(state.open[0]!.alerts.map((a) => a.name).sort()).toEqual([deadLetters.name, payments.name].sort());
  });

  it('keeps groups apart: another group opens its own incident', () => {
    let state = decide([], [transition(payments, 'pending', 'firing', 0)], 0);
    state = decide(state.open, [transition(latency, 'pending', 'firing', 1)], 1);
    expect(state.open.map((i) => i.group).sort()).toEqual(['intake', 'order-flow']);
  });

  it('resolves itself only after the quiet period without a firing alert, and sends resolve', () => {
    let state = decide([], [transition(payments, 'pending', 'firing', 0)], 0);
    state = decide(state.open, [transition(payments, 'firing', 'inactive', 30, 0)], 30);
    expect(state.open[0]!.quietSince).toBe(at(30));
    expect(decide(state.open, [], 89).decisions).toEqual([]);
    // Firing again within the quiet period starts the wait over.
    const refired = decide(state.open, [transition(payments, 'inactive', 'firing', 60)], 60);
    expect(refired.open[0]!.quietSince).toBeUndefined();
    expect(decide(refired.open, [], 200).decisions).toEqual([]);

    const resolved = decide(state.open, [], 90);
    expect(resolved.decisions[0]!.webhooks).toEqual(['resolve']);
    expect(resolved.decisions[0]!.incident).toMatchObject({ status: 'resolved', resolvedAt: at(90) });
    expect(resolved.open).toEqual([]);
  });

  it('adds each order at risk to the open incidents once, and computes the impact per currency', () => {
    let state = decide([], [transition(payments, 'pending', 'firing', 0)], 0, [order('a', 10.1)]);
    expect(state.decisions[0]!.events.map((e) => e.type)).toEqual([
      INCIDENT_EVENTS.opened,
      INCIDENT_EVENTS.impactAssessed,
    ]);
    state = decide(state.open, [], 5, [
      order('a', 10.1),
      order('b', 20.2),
      order('c', 5, 'EUR', 'EU', ['alpine']),
    ]);
    expect(state.decisions[0]!.events).toHaveLength(1);
    expect(decide(state.open, [], 6, [order('b', 20.2)]).decisions).toEqual([]);
    expect(impactOf(state.open[0]!)).toEqual({
      ordersAffected: 3,
      revenueAtRisk: [
        { currency: 'EUR', amount: 5 },
        { currency: 'USD', amount: 30.3 },
      ],
      regions: ['EU', 'NA'],
      vendors: ['alpine', 'northwind'],
    });
  });

  it('continues from the stored version of an existing incident', () => {
    const opened = decide([], [transition(payments, 'pending', 'firing', 0)], 0).open[0]!;
    const stored = { ...opened, version: 7 };
    const [decision] = decide([stored], [transition(payments, 'firing', 'inactive', 1)], 1).decisions;
    expect(decision!.expectedVersion).toBe(7);
    expect(decision!.incident.version).toBe(8);
  });
});

describe('incident fold', () => {
  it('records acknowledgement, notes and an operator resolution in the timeline, in order', () => {
    let incident = decide([], [transition(payments, 'pending', 'firing', 0)], 0).open[0];
    incident = evolveIncident(
      incident,
      { type: INCIDENT_EVENTS.acknowledged, data: { note: 'on it', at: at(5) } },
      1,
    );
    incident = evolveIncident(
      incident,
      { type: INCIDENT_EVENTS.noteAdded, data: { text: 'gateway down', at: at(6) } },
      2,
    );
    incident = evolveIncident(
      incident,
      { type: INCIDENT_EVENTS.resolved, data: { note: 'fixed', automatic: false, at: at(9) } },
      3,
    );
    expect(incident).toMatchObject({
      status: 'resolved',
      acknowledgedAt: at(5),
      resolvedAt: at(9),
      version: 3,
    });
    expect(incident!.timeline.slice(-3)).toEqual([
      { at: at(5), kind: 'acknowledged', text: 'acknowledged: on it' },
      { at: at(6), kind: 'note', text: 'gateway down' },
      { at: at(9), kind: 'resolved', text: 'resolved: fixed' },
    ]);
  });
});

describe('incident outputs', () => {
  const incident = decide([], [transition(payments, 'pending', 'firing', 0)], 0, [
    order('a', 12.5),
    order('b', 7.5),
  ]).open[0]!;

  it('is a PagerDuty Events v2 event, dedup_key = incident id, severity mapped', () => {
    const event = pagerDutyEvent(incident, 'trigger', { source: 'orderflow/test', at: at(1) });
    expect(event).toMatchObject({
      event_action: 'trigger',
      dedup_key: incident.id,
      payload: {
        summary: '[critical] Payment authorizations are failing',
        severity: 'critical',
        source: 'orderflow/test',
        custom_details: { orders_affected: 2, revenue_at_risk: [{ currency: 'USD', amount: 20 }] },
      },
    });
    const medium = { ...incident, severity: 'medium' as const };
    expect(
      (pagerDutyEvent(medium, 'trigger', { source: 's', at: at(1) }).payload as { severity: string })
        .severity,
    ).toBe('warning');
  });

  it('drafts a postmortem with the impact in numbers and the UTC timeline', () => {
    const draft = postmortemDraft(incident, incident.timeline, new Date(T0 + 125_000));
    expect(draft).toContain('# Postmortem (draft): Payment authorizations are failing');
    expect(draft).toContain('- Orders affected: 2');
    expect(draft).toContain('- Revenue at risk: 20.00 USD');
    expect(draft).toContain('- Duration: 2 min 5 s so far');
    expect(draft).toContain(`| 2026-12-02 10:00:00Z | opened |`);
    expect(draft).toContain('## Causes');
    expect(draft).toContain('## Action items');
  });
});

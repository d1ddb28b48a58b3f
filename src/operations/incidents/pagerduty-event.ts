import type { IncidentWebhookAction } from '../messages.ts';
import { impactOf, type Incident, type Severity } from './incident.ts';

/** PagerDuty's four severities; ours are named by business impact (DESIGN.md §9). */
const PAGERDUTY_SEVERITY: Readonly<Record<Severity, 'critical' | 'error' | 'warning' | 'info'>> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
};

/**
 * An incident transition as a PagerDuty Events v2 event (`event_action`, `dedup_key`, `payload`):
 * what an on-call tool that speaks that format expects. `dedup_key` is the incident id, so a
 * repeated trigger updates the same alert instead of paging twice.
 */
export function pagerDutyEvent(
  incident: Incident,
  action: IncidentWebhookAction,
  options: { source: string; at: string },
): Record<string, unknown> {
  const impact = impactOf(incident);
  return {
    event_action: action,
    dedup_key: incident.id,
    payload: {
      summary: `[${incident.severity}] ${incident.title}`,
      severity: PAGERDUTY_SEVERITY[incident.severity],
      source: options.source,
      timestamp: options.at,
      component: incident.group,
      group: incident.group,
      class: incident.alerts.find((alert) => alert.state === 'firing')?.name ?? incident.alerts[0]?.name,
      custom_details: {
        incident_id: incident.id,
        severity: incident.severity,
        status: incident.status,
        opened_at: incident.openedAt,
        ...(incident.acknowledgedAt !== undefined ? { acknowledged_at: incident.acknowledgedAt } : {}),
        ...(incident.resolvedAt !== undefined ? { resolved_at: incident.resolvedAt } : {}),
        alerts: incident.alerts.map((alert) => ({
          name: alert.name,
          severity: alert.severity,
          state: alert.state,
        })),
        orders_affected: impact.ordersAffected,
        revenue_at_risk: impact.revenueAtRisk,
        regions: impact.regions,
        vendors: impact.vendors,
        runbooks: [...new Set(incident.alerts.map((alert) => alert.runbook))],
      },
    },
  };
}

import { impactOf, type Incident, type TimelineEntry } from './incident.ts';

/**
 * A postmortem draft filled from the incident (DESIGN.md §9): the numbers and the UTC timeline are
 * computed; causes and action items are left for the people who were there.
 */
export function postmortemDraft(incident: Incident, timeline: readonly TimelineEntry[], now: Date): string {
  const impact = impactOf(incident);
  const end = incident.resolvedAt ?? now.toISOString();
  const lines = [
    `# Postmortem (draft): ${incident.title}`,
    '',
    `- Incident: \`${incident.id}\` (group \`${incident.group}\`)`,
    `- Severity: **${incident.severity}**`,
    `- Status: ${incident.status}`,
    `- Opened: ${utc(incident.openedAt)}`,
    `- Acknowledged: ${incident.acknowledgedAt === undefined ? 'never' : `${utc(incident.acknowledgedAt)} (${duration(incident.openedAt, incident.acknowledgedAt)} after opening)`}`,
    `- Resolved: ${incident.resolvedAt === undefined ? 'not yet' : utc(incident.resolvedAt)}`,
    `- Duration: ${duration(incident.openedAt, end)}${incident.resolvedAt === undefined ? ' so far' : ''}`,
    '',
    '## Impact',
    '',
    `- Orders affected: ${impact.ordersAffected}`,
    `- Revenue at risk: ${impact.revenueAtRisk.length === 0 ? 'none' : impact.revenueAtRisk.map((r) => `${r.amount.toFixed(2)} ${r.currency}`).join(', ')}`,
    `- Regions: ${impact.regions.length === 0 ? 'none' : impact.regions.join(', ')}`,
    `- Vendors: ${impact.vendors.length === 0 ? 'none' : impact.vendors.join(', ')}`,
    '',
    '## Alerts',
    '',
    '| alert | severity | last state | runbook |',
    '|---|---|---|---|',
    ...incident.alerts.map(
      (alert) =>
        `| \`${alert.name}\` | ${alert.severity} | ${alert.state} since ${utc(alert.since)} | ${alert.runbook} |`,
    ),
    '',
    '## Timeline (UTC)',
    '',
    '| time | what | |',
    '|---|---|---|',
    ...timeline.map((entry) => `| ${utc(entry.at)} | ${entry.kind} | ${entry.text.replaceAll('|', '\\|')} |`),
    '',
    '## Causes',
    '',
    '_What happened, and why. Why it was not caught before customers could notice._',
    '',
    '## What went well, what did not',
    '',
    '- ',
    '',
    '## Action items',
    '',
    '| action | owner | due |',
    '|---|---|---|',
    '|  |  |  |',
    '',
  ];
  return lines.join('\n');
}

function utc(iso: string): string {
  return `${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`;
}

function duration(fromIso: string, toIso: string): string {
  const seconds = Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
}

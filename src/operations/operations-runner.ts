import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventStore, StreamAppend } from '../event-store/index.ts';
import { ensureError, isConcurrencyError } from '../kernel/errors.ts';
import type { LeaderLease } from '../messaging/index.ts';
import { alertStateChanged, readRecordedAlerts, type RecordedAlertState } from './alerts-record.ts';
import { ALERTS_STREAM } from './messages.ts';
import { decideIncidents, type AlertTransition } from './incidents/decide-incidents.ts';
import type { AffectedOrder, AlertStateName, Incident, Severity } from './incidents/incident.ts';
import type { IncidentRepository } from './incidents/incident-repository.ts';

/** A rule's state after an evaluation, with what the incident and the API show of the rule. */
export interface EvaluatedAlert extends Omit<RecordedAlertState, 'since'> {
  /** When the rule entered its state (ISO); null when it never left inactive. */
  since: string | null;
  summary: string;
  runbook: string;
}

export interface EvaluatedTransition {
  name: string;
  from: AlertStateName;
  to: AlertStateName;
  /** Epoch ms. */
  at: number;
  value: number | null;
}

/** The alert rules and their evaluator, behind what the runner needs of them. */
export interface AlertEngine {
  /** Records a sample of every metric at `atMs` (followers too, so a takeover has its windows warm). */
  record(atMs: number): Promise<void>;
  /** Evaluates every rule at `atMs` against the recorded samples. */
  evaluate(atMs: number): { alerts: EvaluatedAlert[]; transitions: EvaluatedTransition[] };
  /** Resumes from recorded states (after a restart or a takeover). */
  restore(states: readonly RecordedAlertState[]): void;
  /** Every rule's state as recorded, for a copy that does not evaluate. */
  describe(recorded: ReadonlyMap<string, RecordedAlertState>): EvaluatedAlert[];
}

export interface OperationsRunnerOptions {
  store: EventStore;
  engine: AlertEngine;
  incidents: IncidentRepository;
  lease: LeaderLease;
  /** Orders at risk now (the KPI projection). */
  atRisk: () => Promise<AffectedOrder[]>;
  intervalMs: number;
  quietMs: number;
  logger: Logger;
  now: () => Date;
}

export interface OperationsRunner {
  start(): void;
  stop(): Promise<void>;
  /** Runs one evaluation now (tests, and the first one at start). */
  tick(): Promise<void>;
  /** Whether this copy holds the lease and evaluates. */
  readonly leading: boolean;
  /** Every rule's current state: live on the evaluating copy, as recorded elsewhere. */
  alerts(): EvaluatedAlert[];
  /** Incidents by severity and status (the `orderflow_incidents` gauge). */
  incidentCounts(): { severity: Severity; status: string; count: number }[];
}

/**
 * The operations role's loop (DESIGN.md §9): every `intervalMs` it samples the metrics and, in the
 * copy that holds the lease, evaluates the alert rules, records each transition, opens, joins and
 * resolves incidents, and adds the orders at risk to their impact: one unit of work per tick, so
 * alert states, incident events and webhook messages commit together. A write that conflicts (an
 * operator acknowledged in between, or another copy took over) is dropped, the states are read again
 * and the next tick decides afresh.
 */
export function createOperationsRunner(options: OperationsRunnerOptions): OperationsRunner {
  const { store, engine, incidents, lease, logger, now } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  /** Leading and resumed from the store: the engine's states are the recorded ones plus what it evaluated since. */
  let resumed = false;
  let leading = false;
  let alertsVersion = -1;
  let openIncidents: string[] = [];
  let current: EvaluatedAlert[] = [];
  let counts: { severity: Severity; status: string; count: number }[] = [];

  async function resume(): Promise<void> {
    const recorded = await readRecordedAlerts(store);
    alertsVersion = recorded.version;
    engine.restore([...recorded.states.values()]);
    openIncidents = (await incidents.list()).filter((i) => i.status !== 'resolved').map((i) => i.id);
    resumed = true;
  }

  async function refreshCounts(): Promise<void> {
    const all = await incidents.list();
    const byKey = new Map<string, { severity: Severity; status: string; count: number }>();
    for (const incident of all) {
      const key = `${incident.severity}/${incident.status}`;
      const entry = byKey.get(key) ?? { severity: incident.severity, status: incident.status, count: 0 };
      entry.count += 1;
      byKey.set(key, entry);
    }
    counts = [...byKey.values()];
  }

  async function evaluate(): Promise<void> {
    const at = now();
    await engine.record(at.getTime());
    leading = await lease.hold();
    if (!leading) {
      resumed = false;
      current = engine.describe((await readRecordedAlerts(store)).states);
      await refreshCounts();
      return;
    }
    if (!resumed) await resume();

    const { alerts, transitions } = engine.evaluate(at.getTime());
    current = alerts;
    const byName = new Map(alerts.map((alert) => [alert.name, alert]));
    const open = (await Promise.all(openIncidents.map((id) => incidents.load(id)))).filter(
      (incident): incident is Incident => incident !== undefined && incident.status !== 'resolved',
    );
    const incidentTransitions: AlertTransition[] = transitions.map((transition) => {
      const alert = byName.get(transition.name)!;
      return {
        rule: {
          name: alert.name,
          severity: alert.severity,
          group: alert.group,
          summary: alert.summary,
          runbook: alert.runbook,
        },
        from: transition.from,
        to: transition.to,
        at: new Date(transition.at).toISOString(),
        value: transition.value,
        pendingSince: alert.activeAt === undefined ? null : new Date(alert.activeAt).toISOString(),
      };
    });
    const decisions = decideIncidents({
      open,
      transitions: incidentTransitions,
      atRisk: open.length > 0 || transitions.some((t) => t.to === 'firing') ? await options.atRisk() : [],
      now: at,
      quietMs: options.quietMs,
      newIncidentId: randomUUID,
    });
    if (transitions.length === 0 && decisions.length === 0) {
      openIncidents = open.map((incident) => incident.id);
      await refreshCounts();
      return;
    }

    const unit = incidents.unitOf(decisions);
    const appends: StreamAppend[] = [...unit.appends];
    if (transitions.length > 0) {
      appends.push({
        streamId: ALERTS_STREAM,
        expectedVersion: alertsVersion,
        events: transitions.map((transition) => {
          const { summary: _summary, runbook: _runbook, ...state } = byName.get(transition.name)!;
          const since = state.since ?? new Date(transition.at).toISOString();
          return alertStateChanged({ ...state, since, from: transition.from });
        }),
      });
    }
    try {
      await store.commit({ appends, messages: unit.messages });
    } catch (error) {
      // The engine moved on in memory: resume from what is recorded before deciding again.
      resumed = false;
      if (isConcurrencyError(error)) return;
      throw error;
    }
    alertsVersion += transitions.length;
    openIncidents = decisions
      .map((decision) => decision.incident)
      .concat(open.filter((incident) => !decisions.some((d) => d.incidentId === incident.id)))
      .filter((incident) => incident.status !== 'resolved')
      .map((incident) => incident.id);
    for (const decision of decisions) {
      if (decision.expectedVersion === -1) {
        logger.warn(
          {
            incidentId: decision.incidentId,
            severity: decision.incident.severity,
            group: decision.incident.group,
          },
          `incident opened: ${decision.incident.title}`,
        );
      } else if (decision.incident.status === 'resolved') {
        logger.info({ incidentId: decision.incidentId }, `incident resolved: ${decision.incident.title}`);
      }
    }
    for (const transition of transitions) {
      logger.info(
        { alert: transition.name, from: transition.from, to: transition.to, value: transition.value },
        'alert state changed',
      );
    }
    await refreshCounts();
  }

  async function tick(): Promise<void> {
    // One evaluation at a time: a slow store never stacks ticks.
    running ??= evaluate()
      .catch((error: unknown) => {
        logger.warn({ err: ensureError(error) }, 'operations evaluation failed; trying again next tick');
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void tick().finally(schedule);
    }, options.intervalMs);
    timer.unref();
  }

  return {
    start() {
      stopped = false;
      void tick().finally(schedule);
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
      await lease.release();
      leading = false;
    },
    tick,
    get leading() {
      return leading;
    },
    alerts: () => current,
    incidentCounts: () => counts,
  };
}

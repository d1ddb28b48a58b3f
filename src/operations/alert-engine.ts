import type { Registry } from 'prom-client';
import {
  createAlertEvaluator,
  requiredRetentionMs,
  SampleHistory,
  samplesOfRegistry,
  type AlertRule,
  type AlertState,
} from './alerts/index.ts';
import type { RecordedAlertState } from './alerts-record.ts';
import type { AlertEngine, EvaluatedAlert } from './operations-runner.ts';

/** A rule's value for JSON and the store: 0/0 (no traffic) is NaN, which JSON has no number for. */
function finite(value: number | null | undefined): number | null {
  return value !== undefined && value !== null && Number.isFinite(value) ? value : null;
}

/**
 * The alert rules evaluated on samples of this process's metrics registry (the KPI projection's
 * business metrics, the HTTP and consumer metrics): what the operations runner drives.
 */
export function createAlertEngine(options: { rules: readonly AlertRule[]; registry: Registry }): AlertEngine {
  const { rules, registry } = options;
  const history = new SampleHistory({ retentionMs: requiredRetentionMs(rules) });
  let evaluator = createAlertEvaluator(rules);
  /** Rules that have left `inactive` at least once: the others have no `since` to show. */
  const changed = new Set<string>();

  function evaluated(rule: AlertRule, state: AlertState | RecordedAlertState | undefined): EvaluatedAlert {
    const since =
      state === undefined || !changed.has(rule.name)
        ? null
        : typeof state.since === 'number'
          ? new Date(state.since).toISOString()
          : state.since;
    return {
      name: rule.name,
      severity: rule.severity,
      group: rule.group,
      summary: rule.summary,
      runbook: rule.runbook,
      state: state?.state ?? 'inactive',
      since,
      value: finite(state?.value),
      ...(state?.activeAt !== undefined ? { activeAt: state.activeAt } : {}),
      ...(state?.lastActiveAt !== undefined ? { lastActiveAt: state.lastActiveAt } : {}),
      ...(state?.keepFiringSince !== undefined ? { keepFiringSince: state.keepFiringSince } : {}),
    };
  }

  return {
    async record(atMs) {
      history.record(atMs, await samplesOfRegistry(registry));
      history.prune(atMs);
    },
    evaluate(atMs) {
      const { states, transitions } = evaluator.evaluate(history, atMs);
      for (const transition of transitions) changed.add(transition.name);
      const byName = new Map(states.map((state) => [state.name, state]));
      return {
        alerts: rules.map((rule) => evaluated(rule, byName.get(rule.name))),
        transitions: transitions.map((transition) => ({ ...transition, value: finite(transition.value) })),
      };
    },
    restore(recorded) {
      for (const state of recorded) changed.add(state.name);
      const known = new Set(rules.map((rule) => rule.name));
      evaluator = createAlertEvaluator(rules, {
        restore: recorded
          .filter((state) => known.has(state.name))
          .map((state) => ({
            name: state.name,
            state: state.state,
            since: Date.parse(state.since),
            value: state.value,
            ...(state.activeAt !== undefined ? { activeAt: state.activeAt } : {}),
            ...(state.lastActiveAt !== undefined ? { lastActiveAt: state.lastActiveAt } : {}),
            ...(state.keepFiringSince !== undefined ? { keepFiringSince: state.keepFiringSince } : {}),
          })),
      });
    },
    describe(recorded) {
      for (const name of recorded.keys()) changed.add(name);
      return rules.map((rule) => evaluated(rule, recorded.get(rule.name)));
    },
  };
}

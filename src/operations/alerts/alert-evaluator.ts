import type { AlertStateName } from '../incidents/incident.ts';
import type { AlertRule } from './alert-rule.ts';
import { evaluateCondition } from './evaluate-condition.ts';
import type { SampleHistory } from './sample-history.ts';

export type { AlertStateName };

/** One rule's alert, serializable (JSON) so that the operations role can persist and restore it. */
export interface AlertState {
  name: string;
  state: AlertStateName;
  /** When the state last changed (ms); for a rule never active, its first evaluation (0 before it). */
  since: number;
  /** The first evaluation of the current pending/firing episode (Prometheus's `activeAt`). */
  activeAt?: number;
  /** The last evaluation where the condition held. */
  lastActiveAt?: number;
  /** The first evaluation of a firing alert whose condition no longer holds (`keep_firing_for` counts from here). */
  keepFiringSince?: number;
  /** The rule's value at the last evaluation (evaluate-condition.ts), null when absent. */
  value: number | null;
}

export interface AlertTransition {
  name: string;
  from: AlertStateName;
  to: AlertStateName;
  at: number;
  value: number | null;
}

export interface AlertEvaluation {
  states: AlertState[];
  transitions: AlertTransition[];
}

export interface AlertEvaluator {
  /** Evaluates every rule at `atMs` on the history; call it at increasing times. */
  evaluate(history: SampleHistory, atMs: number): AlertEvaluation;
  states(): AlertState[];
}

export interface AlertEvaluatorOptions {
  /** States persisted from an earlier evaluator; states of rules that no longer exist are dropped. */
  restore?: readonly AlertState[];
}

/**
 * Prometheus's alerting-rule state machine (rules/alerting.go, 2.42), one alert per rule: a rule
 * whose condition holds turns pending (activeAt = now) and fires once `now − activeAt ≥ for`
 * (at once when `for` is 0: one transition inactive → firing). When the condition stops, a pending
 * alert turns inactive at once; a firing one keeps firing while `now − keepFiringSince <
 * keep_firing_for`, where keepFiringSince is the first evaluation without the condition (not the
 * last one with it: that is how Prometheus counts, one evaluation later than lastActiveAt).
 */
export function createAlertEvaluator(
  rules: readonly AlertRule[],
  options: AlertEvaluatorOptions = {},
): AlertEvaluator {
  const restored = new Map((options.restore ?? []).map((state) => [state.name, state]));
  const current = new Map<string, AlertState>(
    rules.map((rule) => [
      rule.name,
      { ...(restored.get(rule.name) ?? { name: rule.name, state: 'inactive', since: 0, value: null }) },
    ]),
  );
  let evaluated = false;

  const snapshot = (): AlertState[] => rules.map((rule) => ({ ...current.get(rule.name)! }));

  return {
    evaluate(history, atMs) {
      const transitions: AlertTransition[] = [];
      for (const rule of rules) {
        const previous = current.get(rule.name)!;
        const { active, value } = evaluateCondition(rule.condition, history, atMs);
        const next = step(rule, previous, active, atMs);
        next.value = value;
        if (!evaluated && restored.get(rule.name) === undefined && next.state === 'inactive')
          next.since = atMs;
        if (next.state !== previous.state) {
          transitions.push({ name: rule.name, from: previous.state, to: next.state, at: atMs, value });
        }
        current.set(rule.name, next);
      }
      evaluated = true;
      return { states: snapshot(), transitions };
    },
    states: snapshot,
  };
}

function step(rule: AlertRule, previous: AlertState, active: boolean, atMs: number): AlertState {
  if (active) {
    const { keepFiringSince: _cleared, ...next } = previous;
    next.lastActiveAt = atMs;
    if (next.state === 'inactive') {
      next.state = 'pending';
      next.activeAt = atMs;
      next.since = atMs;
    }
    if (next.state === 'pending' && atMs - (next.activeAt ?? next.since) >= rule.forMs) {
      next.state = 'firing';
      next.since = atMs;
    }
    return next;
  }
  if (previous.state === 'firing' && rule.keepFiringForMs > 0) {
    const keepFiringSince = previous.keepFiringSince ?? atMs;
    if (atMs - keepFiringSince < rule.keepFiringForMs) return { ...previous, keepFiringSince };
  }
  if (previous.state === 'inactive') return { ...previous };
  const { activeAt: _activeAt, keepFiringSince: _keep, ...rest } = previous;
  return { ...rest, state: 'inactive', since: atMs };
}

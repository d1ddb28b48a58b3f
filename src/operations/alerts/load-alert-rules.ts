import fs from 'node:fs';
import { parse } from 'yaml';
import { InvalidOptionsError } from '../../kernel/errors.ts';
import { SEVERITIES } from '../incidents/incident.ts';
import {
  RULE_NAME_PATTERN,
  type AlertCondition,
  type AlertRule,
  type BurnRateCondition,
  type BurnRateWindow,
  type Selector,
  type Severity,
  type ThresholdCondition,
} from './alert-rule.ts';
import { BUILT_IN_RULES, DEFAULT_BURN_RATE_WINDOWS } from './built-in-rules.ts';
import { parseDuration } from './duration.ts';
import { parseSelector } from './selector.ts';

/**
 * ORDERFLOW_ALERT_RULES (docs/operations.md, "Alert rules"): a YAML or JSON document
 * `{ rules: [...] }`. A rule named like a built-in one changes only the fields it gives (inside
 * `threshold:` / `burn_rate:` too, when the kind stays); any other rule is added and must be
 * complete. Every problem is reported at once, each with the rule and the field.
 */

const SUBJECT = 'ORDERFLOW_ALERT_RULES';
const RULE_FIELDS = [
  'name',
  'severity',
  'group',
  'summary',
  'runbook',
  'for',
  'keep_firing_for',
  'threshold',
  'burn_rate',
];
const THRESHOLD_FIELDS = ['metric', 'aggregate', 'function', 'window', 'op', 'value'];
const BURN_RATE_FIELDS = ['objective', 'errors', 'good', 'total', 'windows', 'min_volume'];
const WINDOW_FIELDS = ['long', 'short', 'factor'];

/** The built-in rules, plus or overridden by the rules of `file` when given. */
export function loadAlertRules(options: { file?: string | undefined }): AlertRule[] {
  if (options.file === undefined) return [...BUILT_IN_RULES];
  let text: string;
  try {
    text = fs.readFileSync(options.file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new InvalidOptionsError([`${options.file} cannot be read (${reason})`], { subject: SUBJECT });
  }
  return parseAlertRules(text, options.file);
}

/** The built-in rules merged with a rules document (YAML or JSON text). */
export function parseAlertRules(text: string, source = SUBJECT): AlertRule[] {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new InvalidOptionsError(
      [`${source} is not YAML or JSON: ${(error as Error).message.split('\n')[0]}`],
      {
        subject: SUBJECT,
      },
    );
  }
  const entries = isObject(document) ? document.rules : undefined;
  if (!Array.isArray(entries) || Object.keys(document as object).some((key) => key !== 'rules')) {
    throw new InvalidOptionsError([`${source} must be a document with one key, rules: a list of rules`], {
      subject: SUBJECT,
    });
  }
  const problems: string[] = [];
  const rules = new Map(BUILT_IN_RULES.map((rule) => [rule.name, rule]));
  const seen = new Set<string>();
  entries.forEach((entry: unknown, index) => {
    const name = isObject(entry) && typeof entry.name === 'string' ? entry.name : undefined;
    const where = `rules[${index}]${name === undefined ? '' : ` (${name})`}`;
    if (name !== undefined && seen.has(name)) problems.push(`${where}: name ${name} is given twice`);
    if (name !== undefined) seen.add(name);
    const rule = ruleOf(
      entry,
      name === undefined ? undefined : BUILT_IN_RULES.find((r) => r.name === name),
      (p) => problems.push(`${where}: ${p}`),
    );
    if (rule !== undefined) rules.set(rule.name, rule);
  });
  if (problems.length > 0) throw new InvalidOptionsError(problems, { subject: SUBJECT });
  return [...rules.values()];
}

type Report = (problem: string) => void;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const got = (value: unknown): string => `(got ${JSON.stringify(value) ?? String(value)})`;

function unknownFields(
  object: Record<string, unknown>,
  known: readonly string[],
  prefix: string,
  report: Report,
) {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) report(`${prefix}${key} is not a field (use ${known.join(', ')})`);
  }
}

function ruleOf(entry: unknown, base: AlertRule | undefined, report: Report): AlertRule | undefined {
  if (!isObject(entry)) {
    report(`must be an object ${got(entry)}`);
    return undefined;
  }
  const before = problemCounter(report);
  const check = before.report;
  unknownFields(entry, RULE_FIELDS, '', check);
  const name = entry.name;
  if (typeof name !== 'string' || !RULE_NAME_PATTERN.test(name))
    check(`name must match [a-z][a-z0-9_]* ${got(name)}`);
  const severity = optional(
    entry,
    'severity',
    base?.severity,
    check,
    (value) => (SEVERITIES.includes(value as Severity) ? (value as Severity) : undefined),
    `one of ${SEVERITIES.join(', ')}`,
  );
  const group = optional(entry, 'group', base?.group, check, text, 'a non-empty string');
  const summary = optional(entry, 'summary', base?.summary, check, text, 'a non-empty string');
  const runbook = optional(
    entry,
    'runbook',
    base?.runbook,
    check,
    text,
    'a non-empty string (a path or URL)',
  );
  const forMs = optional(
    entry,
    'for',
    base?.forMs ?? 0,
    check,
    duration,
    'a Prometheus duration like 30s, 5m, 1h',
  );
  const keepFiringForMs = optional(
    entry,
    'keep_firing_for',
    base?.keepFiringForMs ?? 0,
    check,
    duration,
    'a Prometheus duration like 30s, 5m, 1h',
  );
  const condition = conditionOf(entry, base?.condition, check);
  if (before.count() > 0) return undefined;
  return {
    name: name as string,
    severity: severity!,
    group: group!,
    summary: summary!,
    runbook: runbook!,
    forMs: forMs!,
    keepFiringForMs: keepFiringForMs!,
    condition: condition!,
  };
}

function problemCounter(report: Report): { report: Report; count: () => number } {
  let count = 0;
  return {
    report: (problem) => {
      count++;
      report(problem);
    },
    count: () => count,
  };
}

/** A field's value, the base's when missing; reports a missing field without a base and a wrong one. */
function optional<T>(
  object: Record<string, unknown>,
  key: string,
  fallback: T | undefined,
  report: Report,
  convert: (value: unknown) => T | undefined,
  expected: string,
  prefix = '',
): T | undefined {
  if (object[key] === undefined) {
    if (fallback === undefined) report(`${prefix}${key} is required: ${expected}`);
    return fallback;
  }
  let value: T | undefined;
  let reason = '';
  try {
    value = convert(object[key]);
  } catch (error) {
    reason = `: ${(error as Error).message}`;
  }
  if (value === undefined) report(`${prefix}${key} must be ${expected}${reason} ${got(object[key])}`);
  return value;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function duration(value: unknown): number | undefined {
  return typeof value === 'string' ? parseDuration(value) : undefined;
}

function positiveDuration(value: unknown): number | undefined {
  const ms = duration(value);
  return ms === undefined || ms <= 0 ? undefined : ms;
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Throws with the reason for a bad selector, which the problem then gives. */
function selector(value: unknown): Selector | undefined {
  return typeof value === 'string' ? parseSelector(value) : undefined;
}

const SELECTOR = 'a selector like name{label="value"}';

function conditionOf(entry: Record<string, unknown>, base: AlertCondition | undefined, report: Report) {
  const { threshold, burn_rate: burnRate } = entry;
  if (threshold !== undefined && burnRate !== undefined) {
    report('give threshold or burn_rate, not both');
    return undefined;
  }
  if (threshold === undefined && burnRate === undefined) {
    if (base === undefined) report('threshold or burn_rate is required');
    return base;
  }
  const given = threshold ?? burnRate;
  const key = threshold !== undefined ? 'threshold' : 'burn_rate';
  if (!isObject(given)) {
    report(`${key} must be an object ${got(given)}`);
    return undefined;
  }
  return threshold !== undefined
    ? thresholdOf(given, base?.kind === 'threshold' ? base : undefined, report)
    : burnRateOf(given, base?.kind === 'burn_rate' ? base : undefined, report);
}

function thresholdOf(
  given: Record<string, unknown>,
  base: ThresholdCondition | undefined,
  report: Report,
): ThresholdCondition | undefined {
  const p = 'threshold.';
  unknownFields(given, THRESHOLD_FIELDS, p, report);
  const metric = optional(given, 'metric', base?.metric, report, selector, SELECTOR, p);
  const aggregate = optional(
    given,
    'aggregate',
    base?.aggregate,
    report,
    (v) => (v === 'sum' || v === 'max' ? v : undefined),
    'sum or max',
    p,
  );
  const op = optional(
    given,
    'op',
    base?.op,
    report,
    (v) => (v === '>' || v === '>=' || v === '<' || v === '<=' ? v : undefined),
    "'>', '>=', '<' or '<='",
    p,
  );
  const value = optional(given, 'value', base?.value, report, finite, 'a finite number', p);
  let fn = base?.fn;
  if (given.function !== undefined || given.window !== undefined) {
    const name = optional(
      given,
      'function',
      fn?.name,
      report,
      (v) => (v === 'rate' || v === 'increase' ? v : undefined),
      'rate or increase (with window)',
      p,
    );
    const windowMs = optional(
      given,
      'window',
      fn?.windowMs,
      report,
      positiveDuration,
      'a positive Prometheus duration like 5m (with function)',
      p,
    );
    fn = name === undefined || windowMs === undefined ? undefined : { name, windowMs };
  }
  if (metric === undefined || aggregate === undefined || op === undefined || value === undefined)
    return undefined;
  return { kind: 'threshold', metric, aggregate, ...(fn === undefined ? {} : { fn }), op, value };
}

function burnRateOf(
  given: Record<string, unknown>,
  base: BurnRateCondition | undefined,
  report: Report,
): BurnRateCondition | undefined {
  const p = 'burn_rate.';
  unknownFields(given, BURN_RATE_FIELDS, p, report);
  const objective = optional(
    given,
    'objective',
    base?.objective,
    report,
    (v) => (typeof v === 'number' && v > 0 && v < 1 ? v : undefined),
    'a number between 0 and 1, like 0.999',
    p,
  );
  const total = optional(given, 'total', base?.total, report, selector, SELECTOR, p);
  const minVolume = optional(
    given,
    'min_volume',
    base?.minVolume ?? 0,
    report,
    (v) => (typeof v === 'number' && v >= 0 && Number.isFinite(v) ? v : undefined),
    'a number >= 0',
    p,
  );
  const windows =
    given.windows === undefined
      ? (base?.windows ?? DEFAULT_BURN_RATE_WINDOWS)
      : windowsOf(given.windows, report);
  let errors = base?.errors;
  let good = base?.good;
  if (given.errors !== undefined && given.good !== undefined)
    report('burn_rate: give errors or good, not both');
  else if (given.errors !== undefined || given.good !== undefined) {
    const key = given.errors !== undefined ? 'errors' : 'good';
    const chosen = optional(given, key, undefined, report, selector, SELECTOR, p);
    errors = key === 'errors' ? chosen : undefined;
    good = key === 'good' ? chosen : undefined;
    if (chosen === undefined) return undefined;
  } else if (base === undefined) report(`${p}errors or good is required: a selector`);
  if (objective === undefined || total === undefined || minVolume === undefined || windows === undefined)
    return undefined;
  if (errors === undefined && good === undefined) return undefined;
  return {
    kind: 'burn_rate',
    objective,
    ...(errors !== undefined ? { errors } : { good: good! }),
    total,
    windows,
    minVolume,
  };
}

function windowsOf(value: unknown, report: Report): BurnRateWindow[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    report(`burn_rate.windows must be a non-empty list of { long, short, factor } ${got(value)}`);
    return undefined;
  }
  const windows: BurnRateWindow[] = [];
  value.forEach((window: unknown, index) => {
    const p = `burn_rate.windows[${index}].`;
    if (!isObject(window)) {
      report(`${p.slice(0, -1)} must be an object { long, short, factor } ${got(window)}`);
      return;
    }
    unknownFields(window, WINDOW_FIELDS, p, report);
    const longMs = optional(
      window,
      'long',
      undefined,
      report,
      positiveDuration,
      'a positive duration like 1h',
      p,
    );
    const shortMs = optional(
      window,
      'short',
      undefined,
      report,
      positiveDuration,
      'a positive duration like 5m',
      p,
    );
    const factor = optional(
      window,
      'factor',
      undefined,
      report,
      (v) => (typeof v === 'number' && v > 0 && Number.isFinite(v) ? v : undefined),
      'a number > 0',
      p,
    );
    if (longMs !== undefined && shortMs !== undefined && shortMs >= longMs) {
      report(`${p}short must be shorter than long ${got(window.short)}`);
    } else if (longMs !== undefined && shortMs !== undefined && factor !== undefined) {
      windows.push({ longMs, shortMs, factor });
    }
  });
  return windows.length === value.length ? windows : undefined;
}

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseSelector } from '../../src/operations/alerts/index.ts';

/**
 * Reads promtool rule unit-test files (`promtool test rules`) the way promtool does, so that the
 * built-in evaluator can be run on the very series and expectations promtool checks in CI.
 */

export const PROMTOOL_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface ExpectedAlert {
  exp_labels?: Record<string, string>;
  exp_annotations?: Record<string, string>;
}

export interface PromtoolTestGroup {
  name?: string;
  interval?: string;
  input_series: { series: string; values: string }[];
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: ExpectedAlert[] }[];
  promql_expr_test?: { expr: string; eval_time: string; exp_samples: { labels: string; value: number }[] }[];
}

export interface PromtoolTestFile {
  rule_files: string[];
  evaluation_interval?: string;
  tests: PromtoolTestGroup[];
}

export function promtoolTestFiles(): string[] {
  return fs
    .readdirSync(PROMTOOL_DIR)
    .filter((file) => file.endsWith('.test.yml'))
    .sort()
    .map((file) => path.join(PROMTOOL_DIR, file));
}

export function readPromtoolTestFile(file: string): PromtoolTestFile {
  return parse(fs.readFileSync(file, 'utf8')) as PromtoolTestFile;
}

/** One expanded value: a number, a staleness marker, or nothing at that step (`_`). */
export type SeriesValue = number | 'stale' | undefined;

const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN`;
const REPEAT = new RegExp(String.raw`^(${NUMBER})(?:([-+])(${NUMBER}))?x(\d+)$`);

/**
 * promtool's series notation (promql/parser, 2.42): `a+bxN` and `a-bxN` are N+1 values from a
 * stepping by b, `axN` is a repeated N+1 times, `_` one missing step, `_xN` N missing steps,
 * `stale` a staleness marker, a plain number itself. Values fall at 0, interval, 2 × interval, …
 */
export function expandSeriesValues(text: string): SeriesValue[] {
  const values: SeriesValue[] = [];
  for (const token of text.trim().split(/\s+/)) {
    if (token === '') continue;
    if (token === '_') values.push(undefined);
    else if (token === 'stale') values.push('stale');
    else if (/^_x\d+$/.test(token))
      values.push(...new Array<undefined>(Number(token.slice(2))).fill(undefined));
    else if (new RegExp(`^(?:${NUMBER})$`).test(token)) values.push(parseNumber(token));
    else {
      const match = REPEAT.exec(token);
      if (match === null) throw new Error(`unknown series value ${JSON.stringify(token)}`);
      const start = parseNumber(match[1]!);
      const step = match[3] === undefined ? 0 : parseNumber(match[3]) * (match[2] === '-' ? -1 : 1);
      // promtool adds the steps one by one (float addition), not start + i × step.
      let value = start;
      for (let i = 0; i <= Number(match[4]); i++) {
        values.push(value);
        value += step;
      }
    }
  }
  return values;
}

function parseNumber(token: string): number {
  if (token.endsWith('Inf')) return token.startsWith('-') ? -Infinity : Infinity;
  return Number(token);
}

/** `name{label="value"}` of an input series: the name and its labels. */
export function seriesIdentity(text: string): { name: string; labels: Record<string, string> } {
  const selector = parseSelector(text);
  const labels: Record<string, string> = {};
  for (const matcher of selector.matchers) {
    if (matcher.op !== '=') throw new Error(`an input series has only = labels: ${text}`);
    labels[matcher.label] = matcher.value;
  }
  return { name: selector.metric, labels };
}

import type { LabelMatcher, MatchOperator, Selector } from './alert-rule.ts';

/** PromQL series selectors without `offset` or `@`: parsed from rule files, printed into exports, matched here. */

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const OPERATORS: readonly MatchOperator[] = ['=~', '!~', '!=', '='];
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  '"': '"',
  "'": "'",
  n: '\n',
  t: '\t',
  r: '\r',
};

/** Parses `name{label="value",other=~"a|b"}`; throws an Error that says what is wrong. */
export function parseSelector(text: string): Selector {
  let rest = text.trim();
  const metric = METRIC_NAME.exec(rest)?.[0];
  if (metric === undefined) throw new Error('must start with a metric name');
  rest = rest.slice(metric.length).trimStart();
  const matchers: LabelMatcher[] = [];
  if (rest.startsWith('{')) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith('}')) {
      const label = LABEL_NAME.exec(rest)?.[0];
      if (label === undefined) throw new Error(`expected a label name at "${rest}"`);
      rest = rest.slice(label.length).trimStart();
      const op = OPERATORS.find((candidate) => rest.startsWith(candidate));
      if (op === undefined) throw new Error(`expected =, !=, =~ or !~ after ${label}`);
      rest = rest.slice(op.length).trimStart();
      const [value, length] = quoted(rest);
      matchers.push({ label, op, value });
      rest = rest.slice(length).trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith('}')) throw new Error(`expected , or } at "${rest}"`);
    }
    rest = rest.slice(1).trimStart();
  }
  if (rest !== '') throw new Error(`unexpected "${rest}" after the selector`);
  const selector = { metric, matchers };
  for (const matcher of matchers) if (isRegex(matcher)) matcherRegex(matcher);
  return selector;
}

/** A quoted PromQL string at the start of `text`: its value and how many characters it took. */
function quoted(text: string): [string, number] {
  const quote = text[0];
  if (quote !== '"' && quote !== "'") throw new Error(`expected a quoted label value at "${text}"`);
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const char = text[i]!;
    if (char === quote) return [value, i + 1];
    if (char === '\\') {
      const escaped = ESCAPES[text[i + 1] ?? ''];
      if (escaped === undefined) throw new Error(`unknown escape sequence \\${text[i + 1] ?? ''}`);
      value += escaped;
      i++;
    } else value += char;
  }
  throw new Error('unterminated label value');
}

/** PromQL text: `name{label="value"}` (double-quoted, JSON escapes, which PromQL reads the same). */
export function formatSelector(selector: Selector): string {
  if (selector.matchers.length === 0) return selector.metric;
  const matchers = selector.matchers.map(({ label, op, value }) => `${label}${op}${JSON.stringify(value)}`);
  return `${selector.metric}{${matchers.join(',')}}`;
}

function isRegex(matcher: LabelMatcher): boolean {
  return matcher.op === '=~' || matcher.op === '!~';
}

const regexCache = new Map<string, RegExp>();

/** Anchored like Prometheus: `=~"a|b"` matches the whole value. Throws on a bad regular expression. */
function matcherRegex(matcher: LabelMatcher): RegExp {
  let regex = regexCache.get(matcher.value);
  if (regex === undefined) {
    try {
      regex = new RegExp(`^(?:${matcher.value})$`, 'u');
    } catch {
      throw new Error(
        `${matcher.label}${matcher.op} has an invalid regular expression ${JSON.stringify(matcher.value)}`,
      );
    }
    regexCache.set(matcher.value, regex);
  }
  return regex;
}

/** Whether a series matches; a missing label is the empty string, as in Prometheus. */
export function matchesSelector(
  selector: Selector,
  name: string,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (name !== selector.metric) return false;
  return selector.matchers.every((matcher) => {
    const value = labels[matcher.label] ?? '';
    switch (matcher.op) {
      case '=':
        return value === matcher.value;
      case '!=':
        return value !== matcher.value;
      case '=~':
        return matcherRegex(matcher).test(value);
      case '!~':
        return !matcherRegex(matcher).test(value);
    }
  });
}

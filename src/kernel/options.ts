import { InvalidOptionsError } from './errors.ts';

/**
 * The one way options are checked (STYLE.md §5): a `resolveXxxOptions()` collects the problems of
 * its options with these checks, each `<property> must be … (got …)` or undefined, and
 * `throwIfInvalid` throws them all as one InvalidOptionsError (CONFIG_INVALID). A single ad-hoc
 * check throws `InvalidOptionsError.format(property, 'must be … (got …)')` in the same words.
 */

/** A value as the "(got …)" of a problem shows it: strings quoted, numbers as they print. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : 'an object';
}

interface Range {
  min: number;
  /** @default no upper bound */
  max?: number;
}

function rangeText(kind: string, { min, max }: Range): string {
  return max === undefined ? `${kind} >= ${min}` : `${kind} from ${min} to ${max}`;
}

/** `maxAttempts must be an integer >= 1 (got 0)` when `value` is not an integer in the range. */
export function checkInteger(property: string, value: unknown, range: Range): string | undefined {
  const ok =
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    value >= range.min &&
    (range.max === undefined || value <= range.max);
  return ok
    ? undefined
    : `${property} must be ${rangeText('an integer', range)} (got ${describeValue(value)})`;
}

/** `jitter must be a finite number from 0 to 1 (got 2)` when `value` is not a finite number in the range. */
export function checkNumber(property: string, value: unknown, range: Range): string | undefined {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= range.min &&
    (range.max === undefined || value <= range.max);
  return ok
    ? undefined
    : `${property} must be ${rangeText('a finite number', range)} (got ${describeValue(value)})`;
}

/** `source must be a non-empty string (got "")`. */
export function checkNonEmptyString(property: string, value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== ''
    ? undefined
    : `${property} must be a non-empty string (got ${describeValue(value)})`;
}

/**
 * Throws the problems found (undefined entries are checks that passed) as one InvalidOptionsError;
 * with `subject` (`'retry policy'`) its message reads `invalid retry policy:` and lists them.
 */
export function throwIfInvalid(problems: readonly (string | undefined)[], subject?: string): void {
  const found = problems.filter((problem): problem is string => problem !== undefined);
  if (found.length === 0) return;
  throw new InvalidOptionsError(found, subject === undefined ? {} : { subject });
}

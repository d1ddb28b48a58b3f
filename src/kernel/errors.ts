/**
 * Orderflow's error model. Every error the system raises on purpose is an AppError with a stable
 * `code` (listed in docs/errors.md), the `category` bound to that code in ERROR_CATEGORIES (which
 * src/http maps to an HTTP status), and a `retryable` flag that the message consumers use to choose
 * between retry and dead letter.
 */

export const ERROR_CODES = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  IDEMPOTENCY_KEY_MISSING: 'IDEMPOTENCY_KEY_MISSING',
  IDEMPOTENCY_KEY_INVALID: 'IDEMPOTENCY_KEY_INVALID',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  ORDER_NOT_FOUND: 'ORDER_NOT_FOUND',
  ORDER_NOT_CANCELLABLE: 'ORDER_NOT_CANCELLABLE',
  NOT_FOUND: 'NOT_FOUND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  MALFORMED_REQUEST: 'MALFORMED_REQUEST',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  STREAM_VERSION_CONFLICT: 'STREAM_VERSION_CONFLICT',
  DEAD_LETTER_NOT_FOUND: 'DEAD_LETTER_NOT_FOUND',
  DEAD_LETTER_ALREADY_REDRIVEN: 'DEAD_LETTER_ALREADY_REDRIVEN',
  SAGA_NOT_FOUND: 'SAGA_NOT_FOUND',
  SAGA_NOT_RETRYABLE: 'SAGA_NOT_RETRYABLE',
  MESSAGE_SCHEMA_VIOLATION: 'MESSAGE_SCHEMA_VIOLATION',
  UNKNOWN_MESSAGE_TYPE: 'UNKNOWN_MESSAGE_TYPE',
  CONFIG_INVALID: 'CONFIG_INVALID',
  DATA_DIR_IN_USE: 'DATA_DIR_IN_USE',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  NOT_READY: 'NOT_READY',
  STORE_CLOSED: 'STORE_CLOSED',
  RELAY_NOT_LEADER: 'RELAY_NOT_LEADER',
  HANDLER_FAILED: 'HANDLER_FAILED',
  INTERNAL: 'INTERNAL',
  GATEWAY_TIMEOUT: 'GATEWAY_TIMEOUT',
  GATEWAY_UNAVAILABLE: 'GATEWAY_UNAVAILABLE',
  GATEWAY_REQUEST_REFUSED: 'GATEWAY_REQUEST_REFUSED',
  CARRIER_UNAVAILABLE: 'CARRIER_UNAVAILABLE',
  WEBHOOK_DELIVERY_FAILED: 'WEBHOOK_DELIVERY_FAILED',
  MAIL_DELIVERY_FAILED: 'MAIL_DELIVERY_FAILED',
  VENDOR_NOT_FOUND: 'VENDOR_NOT_FOUND',
  VENDOR_WEBHOOK_NOT_FOUND: 'VENDOR_WEBHOOK_NOT_FOUND',
  SKU_NOT_FOUND: 'SKU_NOT_FOUND',
  STOCK_BELOW_RESERVED: 'STOCK_BELOW_RESERVED',
  INVALID_STATE: 'INVALID_STATE',
  INCIDENT_NOT_FOUND: 'INCIDENT_NOT_FOUND',
  INCIDENT_ALREADY_RESOLVED: 'INCIDENT_ALREADY_RESOLVED',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export type ErrorCategory =
  'validation' | 'not_found' | 'conflict' | 'forbidden' | 'unavailable' | 'internal';

/**
 * Each code's category, in one place: the same condition is classified the same way wherever it is
 * raised (HTTP status, retry or not).
 */
export const ERROR_CATEGORIES: Readonly<Record<ErrorCode, ErrorCategory>> = {
  VALIDATION_FAILED: 'validation',
  IDEMPOTENCY_KEY_MISSING: 'validation',
  IDEMPOTENCY_KEY_INVALID: 'validation',
  IDEMPOTENCY_KEY_REUSED: 'conflict',
  ORDER_NOT_FOUND: 'not_found',
  ORDER_NOT_CANCELLABLE: 'conflict',
  NOT_FOUND: 'not_found',
  UNAUTHORIZED: 'forbidden',
  FORBIDDEN: 'forbidden',
  MALFORMED_REQUEST: 'validation',
  UNSUPPORTED_MEDIA_TYPE: 'validation',
  PAYLOAD_TOO_LARGE: 'validation',
  STREAM_VERSION_CONFLICT: 'conflict',
  DEAD_LETTER_NOT_FOUND: 'not_found',
  DEAD_LETTER_ALREADY_REDRIVEN: 'conflict',
  SAGA_NOT_FOUND: 'not_found',
  SAGA_NOT_RETRYABLE: 'conflict',
  MESSAGE_SCHEMA_VIOLATION: 'validation',
  UNKNOWN_MESSAGE_TYPE: 'validation',
  CONFIG_INVALID: 'validation',
  DATA_DIR_IN_USE: 'conflict',
  SHUTTING_DOWN: 'unavailable',
  NOT_READY: 'unavailable',
  STORE_CLOSED: 'unavailable',
  RELAY_NOT_LEADER: 'unavailable',
  HANDLER_FAILED: 'internal',
  INTERNAL: 'internal',
  GATEWAY_TIMEOUT: 'unavailable',
  GATEWAY_UNAVAILABLE: 'unavailable',
  GATEWAY_REQUEST_REFUSED: 'conflict',
  CARRIER_UNAVAILABLE: 'unavailable',
  WEBHOOK_DELIVERY_FAILED: 'unavailable',
  MAIL_DELIVERY_FAILED: 'unavailable',
  VENDOR_NOT_FOUND: 'not_found',
  VENDOR_WEBHOOK_NOT_FOUND: 'not_found',
  SKU_NOT_FOUND: 'not_found',
  STOCK_BELOW_RESERVED: 'conflict',
  INVALID_STATE: 'conflict',
  INCIDENT_NOT_FOUND: 'not_found',
  INCIDENT_ALREADY_RESOLVED: 'conflict',
};

export interface AppErrorOptions extends ErrorOptions {
  /** Machine-readable details (for example the invalid fields), passed through to problem details. */
  details?: Record<string, unknown>;
  /** Overrides the category's default. */
  retryable?: boolean;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.category = ERROR_CATEGORIES[code];
    // Only infrastructure trouble is worth retrying by default; bad input stays bad.
    this.retryable = options.retryable ?? (this.category === 'unavailable' || this.category === 'internal');
    this.details = options.details;
  }
}

/** One invalid field, as reported in problem details (`errors[]`). */
export interface FieldError {
  /** JSON pointer into the request body, e.g. `/items/0/sku`. */
  pointer: string;
  detail: string;
}

export class ValidationError extends AppError {
  override name = 'ValidationError';
  readonly errors: readonly FieldError[];
  constructor(message: string, errors: readonly FieldError[], options: AppErrorOptions = {}) {
    super(ERROR_CODES.VALIDATION_FAILED, message, { ...options, retryable: false });
    this.errors = errors;
  }
}

export interface InvalidOptionsErrorOptions extends AppErrorOptions {
  /**
   * What the options are, e.g. `'configuration'` or `'retry policy'`: the message then reads
   * `invalid <subject>:` followed by one `  - <problem>` line per problem. Without it the message is
   * the problems, one per line.
   */
  subject?: string;
}

/**
 * An options object or a configuration value is invalid: the one error of every `resolveXxxOptions`,
 * of every other options check and of loadConfig (nats.js `InvalidArgumentError.format`). Each
 * problem names the property, what it must be and what it got:
 * `maxAttempts must be an integer >= 1 (got 0)`. Code CONFIG_INVALID, never retried; the problems
 * are also in `details.problems`.
 */
export class InvalidOptionsError extends AppError {
  override name = 'InvalidOptionsError';
  /** Each problem as `<property> must be … (got …)`. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options: InvalidOptionsErrorOptions = {}) {
    const { subject, ...rest } = options;
    const message =
      subject === undefined
        ? problems.join('\n')
        : `invalid ${subject}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`;
    super(ERROR_CODES.CONFIG_INVALID, message, {
      ...rest,
      retryable: false,
      details: { ...rest.details, problems: [...problems] },
    });
    this.problems = Object.freeze([...problems]);
  }

  /** One invalid property: `InvalidOptionsError.format('partitions', 'must be a positive integer (got 0)')`. */
  static format(property: string, message: string): InvalidOptionsError {
    return new InvalidOptionsError([`${property} ${message}`]);
  }
}

export function isInvalidOptionsError(error: unknown): error is InvalidOptionsError {
  return error instanceof InvalidOptionsError;
}

/** Expected-version check failed on append: another writer got there first. Retryable (reload and decide again). */
export class ConcurrencyError extends AppError {
  override name = 'ConcurrencyError';
  readonly streamId: string;
  readonly expected: string;
  readonly actual: number;
  constructor(streamId: string, expected: string, actual: number) {
    super(
      ERROR_CODES.STREAM_VERSION_CONFLICT,
      `stream ${streamId}: expected version ${expected}, but it is at ${actual === -1 ? 'no stream' : String(actual)}`,
      { retryable: true, details: { streamId, expected, actual } },
    );
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A failure that retrying cannot fix (a malformed message, a broken invariant). Consumers send it to
 * the dead-letter store at once instead of retrying.
 */
export class TerminalError extends AppError {
  override name = 'TerminalError';
  constructor(message: string, options: AppErrorOptions = {}) {
    super(ERROR_CODES.HANDLER_FAILED, message, { ...options, retryable: false });
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export function isConcurrencyError(error: unknown): error is ConcurrencyError {
  return error instanceof ConcurrencyError;
}

export function isTerminalError(error: unknown): boolean {
  return error instanceof AppError && !error.retryable;
}

/** Turns anything thrown into an Error, so that logs and dead letters always have a message. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}

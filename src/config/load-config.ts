import path from 'node:path';
import { AppError, ERROR_CODES } from '../kernel/errors.ts';

/**
 * Orderflow's configuration (DESIGN.md §6). This module is the only reader of `process.env`: it
 * validates every variable at once, applies defaults and returns a deep-frozen AppConfig. On bad
 * input it throws one CONFIG_INVALID error whose message lists every problem on its own line.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SQLITE_SYNCHRONOUS_MODES = ['FULL', 'NORMAL'] as const;
export type SqliteSynchronous = (typeof SQLITE_SYNCHRONOUS_MODES)[number];

/** Where events, the outbox and inboxes live. */
export type StoreConfig = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** How messages travel between contexts. */
export type BusConfig = { kind: 'embedded' } | { kind: 'nats'; url: string };

/** The payments context's fraud rules (src/contexts/payments/domain/fraud-rules.ts). */
export interface FraudConfig {
  /** `ORDERFLOW_FRAUD_THRESHOLD`: an order scoring at least this many points is rejected. @default 70 */
  readonly threshold: number;
  /** `ORDERFLOW_FRAUD_AMOUNT_REVIEW`: amount in minor units above which the `amount` rule scores. @default 200000 */
  readonly amountReview: number;
  /** `ORDERFLOW_FRAUD_VELOCITY_WINDOW_MS`: the window the velocity rules count orders in. @default 600000 */
  readonly velocityWindowMs: number;
  /** `ORDERFLOW_FRAUD_VELOCITY_LIMIT`: orders per customer, and per card, allowed in the window. @default 5 */
  readonly velocityLimit: number;
}

/** The built-in payment gateway simulator (the provider's test mode). */
export interface PaymentGatewayConfig {
  /** `ORDERFLOW_GATEWAY_LATENCY_MS`: delay of every gateway call. @default 0 */
  readonly latencyMs: number;
  /** `ORDERFLOW_GATEWAY_FAILURE_RATE`: fraction (0–1) of calls failing as unavailable. @default 0 */
  readonly failureRate: number;
  /** `ORDERFLOW_GATEWAY_TIMEOUT_MS`: how long a call may take before it counts as timed out. @default 2000 */
  readonly timeoutMs: number;
}

/** The notifications context: customer e-mails and vendor webhooks. */
export interface NotificationsConfig {
  /**
   * `ORDERFLOW_SMTP_URL` (`smtp://` or `smtps://`): send customer e-mails through this SMTP server.
   * Undefined: write each e-mail as an `.eml` file under `<dataDir>/mail/`. @default undefined
   */
  readonly smtpUrl: string | undefined;
  /**
   * `ORDERFLOW_VENDOR_WEBHOOK_URL`: the webhook endpoint of every vendor that registered none of its
   * own. Undefined: only vendors with a registered endpoint get webhooks. @default undefined
   */
  readonly vendorWebhookUrl: string | undefined;
  /** `ORDERFLOW_WEBHOOK_TIMEOUT_MS`: how long a webhook POST may take before it counts as failed. @default 5000 */
  readonly webhookTimeoutMs: number;
}

/** The order saga (src/sagas): step deadlines and retries, and how long stock is held unpaid. */
export interface SagaConfig {
  /**
   * `ORDERFLOW_RESERVATION_TTL_MS`: how long a stock reservation holds before the order is
   * confirmed; after that inventory releases it (\`expired\`) and the order is rejected (\`timeout\`).
   * @default 900000
   */
  readonly reservationTtlMs: number;
  /**
   * `ORDERFLOW_SAGA_STEP_TIMEOUT_MS`: how long a saga step (or a compensation) waits for its replies
   * before it re-sends its commands or gives up. A durable timer per step attempt. @default 30000
   */
  readonly stepTimeoutMs: number;
  /** `ORDERFLOW_PAYMENT_MAX_ATTEMPTS`: payment authorization attempts (the first included). @default 3 */
  readonly paymentMaxAttempts: number;
}

export interface AppConfig {
  /** `ORDERFLOW_PORT`; 0 asks the OS for a free port. @default 3000 */
  readonly port: number;
  /** `ORDERFLOW_HOST`. @default '127.0.0.1' */
  readonly host: string;
  /** `ORDERFLOW_DATA_DIR`, resolved to an absolute path. @default './data' */
  readonly dataDir: string;
  /** `ORDERFLOW_STORE`. @default { kind: 'sqlite', file: '<dataDir>/orderflow.db' } */
  readonly store: StoreConfig;
  /** `ORDERFLOW_BUS`. @default { kind: 'embedded' } */
  readonly bus: BusConfig;
  /** `ORDERFLOW_ADMIN_KEY`; undefined means "generate one at first start and keep it in the data dir". */
  readonly adminKey: string | undefined;
  /** `ORDERFLOW_CARRIER_DELAY_MS`. @default 5000 */
  readonly carrierDelayMs: number;
  /** `ORDERFLOW_CARRIER_FAILURE_RATE`: fraction (0–1) of the carrier simulator's dispatch attempts that fail (and are retried). @default 0 */
  readonly carrierFailureRate: number;
  /** `ORDERFLOW_SMTP_URL`, `ORDERFLOW_VENDOR_WEBHOOK_URL`, `ORDERFLOW_WEBHOOK_TIMEOUT_MS`. */
  readonly notifications: NotificationsConfig;
  /** `ORDERFLOW_NAMESPACE`. @default 'orderflow' */
  readonly namespace: string;
  /** `ORDERFLOW_PARTITIONS`: partitions per consumer group; fixed for the life of a deployment. @default 16 */
  readonly partitions: number;
  /**
   * `ORDERFLOW_POSTGRES_POOL_SIZE`: connections of the event store's pool, per process (distributed
   * mode). Each process holds about this many plus 5 (notifications, outbox relay, dead letters).
   * @default 10
   */
  readonly postgresPoolSize: number;
  /** `ORDERFLOW_SQLITE_SYNCHRONOUS`. @default 'FULL' */
  readonly sqliteSynchronous: SqliteSynchronous;
  /** `ORDERFLOW_LOG_LEVEL`. @default 'info' */
  readonly logLevel: LogLevel;
  /** `ORDERFLOW_FRAUD_*`. */
  readonly fraud: FraudConfig;
  /** `ORDERFLOW_GATEWAY_*`. */
  readonly paymentGateway: PaymentGatewayConfig;
  /** `ORDERFLOW_RESERVATION_TTL_MS`, `ORDERFLOW_SAGA_STEP_TIMEOUT_MS`, `ORDERFLOW_PAYMENT_MAX_ATTEMPTS`. */
  readonly saga: SagaConfig;
}

export const DEFAULT_PORT = 3000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_CARRIER_DELAY_MS = 5000;
export const DEFAULT_CARRIER_FAILURE_RATE = 0;
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;
export const DEFAULT_NAMESPACE = 'orderflow';
export const DEFAULT_PARTITIONS = 16;
export const SQLITE_FILE_NAME = 'orderflow.db';
export const DEFAULT_FRAUD_THRESHOLD = 70;
export const DEFAULT_FRAUD_AMOUNT_REVIEW = 200_000;
export const DEFAULT_FRAUD_VELOCITY_WINDOW_MS = 600_000;
export const DEFAULT_FRAUD_VELOCITY_LIMIT = 5;
export const DEFAULT_GATEWAY_LATENCY_MS = 0;
export const DEFAULT_GATEWAY_FAILURE_RATE = 0;
export const DEFAULT_GATEWAY_TIMEOUT_MS = 2000;
export const DEFAULT_RESERVATION_TTL_MS = 900_000;
export const DEFAULT_SAGA_STEP_TIMEOUT_MS = 30_000;
export const DEFAULT_PAYMENT_MAX_ATTEMPTS = 3;

const MAX_CARRIER_DELAY_MS = 86_400_000;
const MAX_WEBHOOK_TIMEOUT_MS = 300_000;
const MAX_PARTITIONS = 1024;
const MAX_VELOCITY_WINDOW_MS = 7 * 86_400_000;
const MAX_VELOCITY_LIMIT = 1_000_000;
const MAX_GATEWAY_MS = 300_000;
const MAX_RESERVATION_TTL_MS = 7 * 86_400_000;
const MAX_SAGA_STEP_TIMEOUT_MS = 86_400_000;
const MAX_PAYMENT_ATTEMPTS = 10;
const MIN_ADMIN_KEY_LENGTH = 16;
const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]*$/;
const MAX_NAMESPACE_LENGTH = 32;
// Hostnames, IPv4 and IPv6 literals; anything else fails at listen time with a worse message.
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env = process.env): AppConfig {
  const problems: string[] = [];
  // An empty variable counts as unset, so `ORDERFLOW_PORT= npm start` means "the default".
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const port = readInteger(read('ORDERFLOW_PORT'), 'ORDERFLOW_PORT', DEFAULT_PORT, 0, 65_535, problems);

  const host = read('ORDERFLOW_HOST') ?? DEFAULT_HOST;
  if (!HOST_PATTERN.test(host)) {
    problems.push(
      `ORDERFLOW_HOST=${JSON.stringify(host)}: must be a host name or an IP address, e.g. 127.0.0.1`,
    );
  }

  const dataDir = path.resolve(read('ORDERFLOW_DATA_DIR') ?? DEFAULT_DATA_DIR);

  const store = readStore(read('ORDERFLOW_STORE'), dataDir, problems);
  const bus = readBus(read('ORDERFLOW_BUS'), problems);
  // Two valid pairs: the embedded store with the embedded bus, PostgreSQL with JetStream.
  if (store !== undefined && bus !== undefined) {
    if (store.kind === 'postgres' && bus.kind !== 'nats') {
      problems.push(
        'ORDERFLOW_STORE=postgres://… needs ORDERFLOW_BUS=nats://… (distributed mode runs on PostgreSQL and NATS JetStream together); set both, or unset ORDERFLOW_STORE for the embedded mode',
      );
    } else if (bus.kind === 'nats' && store.kind !== 'postgres') {
      problems.push(
        'ORDERFLOW_BUS=nats://… needs ORDERFLOW_STORE=postgres://… (distributed mode runs on PostgreSQL and NATS JetStream together); set both, or unset ORDERFLOW_BUS for the embedded mode',
      );
    }
  }

  const adminKey = read('ORDERFLOW_ADMIN_KEY');
  if (adminKey !== undefined && (adminKey.length < MIN_ADMIN_KEY_LENGTH || /\s/.test(adminKey))) {
    problems.push(
      `ORDERFLOW_ADMIN_KEY: must be at least ${MIN_ADMIN_KEY_LENGTH} characters without spaces (unset it to have one generated)`,
    );
  }

  const carrierDelayMs = readInteger(
    read('ORDERFLOW_CARRIER_DELAY_MS'),
    'ORDERFLOW_CARRIER_DELAY_MS',
    DEFAULT_CARRIER_DELAY_MS,
    0,
    MAX_CARRIER_DELAY_MS,
    problems,
  );
  const carrierFailureRate = readFraction(
    read('ORDERFLOW_CARRIER_FAILURE_RATE'),
    'ORDERFLOW_CARRIER_FAILURE_RATE',
    DEFAULT_CARRIER_FAILURE_RATE,
    problems,
  );

  const notifications: NotificationsConfig = {
    smtpUrl: readUrl(read('ORDERFLOW_SMTP_URL'), 'ORDERFLOW_SMTP_URL', ['smtp:', 'smtps:'], problems),
    vendorWebhookUrl: readUrl(
      read('ORDERFLOW_VENDOR_WEBHOOK_URL'),
      'ORDERFLOW_VENDOR_WEBHOOK_URL',
      ['http:', 'https:'],
      problems,
    ),
    webhookTimeoutMs: readInteger(
      read('ORDERFLOW_WEBHOOK_TIMEOUT_MS'),
      'ORDERFLOW_WEBHOOK_TIMEOUT_MS',
      DEFAULT_WEBHOOK_TIMEOUT_MS,
      1,
      MAX_WEBHOOK_TIMEOUT_MS,
      problems,
    ),
  };

  const namespace = read('ORDERFLOW_NAMESPACE') ?? DEFAULT_NAMESPACE;
  if (!NAMESPACE_PATTERN.test(namespace) || namespace.length > MAX_NAMESPACE_LENGTH) {
    problems.push(
      `ORDERFLOW_NAMESPACE=${JSON.stringify(namespace)}: must match [a-z][a-z0-9_]* and be at most ${MAX_NAMESPACE_LENGTH} characters`,
    );
  }

  const partitions = readInteger(
    read('ORDERFLOW_PARTITIONS'),
    'ORDERFLOW_PARTITIONS',
    DEFAULT_PARTITIONS,
    1,
    MAX_PARTITIONS,
    problems,
  );

  const postgresPoolSize = readInteger(
    read('ORDERFLOW_POSTGRES_POOL_SIZE'),
    'ORDERFLOW_POSTGRES_POOL_SIZE',
    10,
    1,
    1_000,
    problems,
  );

  const synchronousText = (read('ORDERFLOW_SQLITE_SYNCHRONOUS') ?? 'FULL').toUpperCase();
  const sqliteSynchronous = oneOf(SQLITE_SYNCHRONOUS_MODES, synchronousText);
  if (sqliteSynchronous === undefined) {
    problems.push(
      `ORDERFLOW_SQLITE_SYNCHRONOUS=${JSON.stringify(env.ORDERFLOW_SQLITE_SYNCHRONOUS)}: must be FULL or NORMAL`,
    );
  }

  const logLevel = oneOf(LOG_LEVELS, (read('ORDERFLOW_LOG_LEVEL') ?? 'info').toLowerCase());
  if (logLevel === undefined) {
    problems.push(
      `ORDERFLOW_LOG_LEVEL=${JSON.stringify(env.ORDERFLOW_LOG_LEVEL)}: must be one of ${LOG_LEVELS.join(', ')}`,
    );
  }

  const fraud: FraudConfig = {
    threshold: readInteger(
      read('ORDERFLOW_FRAUD_THRESHOLD'),
      'ORDERFLOW_FRAUD_THRESHOLD',
      DEFAULT_FRAUD_THRESHOLD,
      1,
      10_000,
      problems,
    ),
    amountReview: readInteger(
      read('ORDERFLOW_FRAUD_AMOUNT_REVIEW'),
      'ORDERFLOW_FRAUD_AMOUNT_REVIEW',
      DEFAULT_FRAUD_AMOUNT_REVIEW,
      1,
      Number.MAX_SAFE_INTEGER,
      problems,
    ),
    velocityWindowMs: readInteger(
      read('ORDERFLOW_FRAUD_VELOCITY_WINDOW_MS'),
      'ORDERFLOW_FRAUD_VELOCITY_WINDOW_MS',
      DEFAULT_FRAUD_VELOCITY_WINDOW_MS,
      1,
      MAX_VELOCITY_WINDOW_MS,
      problems,
    ),
    velocityLimit: readInteger(
      read('ORDERFLOW_FRAUD_VELOCITY_LIMIT'),
      'ORDERFLOW_FRAUD_VELOCITY_LIMIT',
      DEFAULT_FRAUD_VELOCITY_LIMIT,
      1,
      MAX_VELOCITY_LIMIT,
      problems,
    ),
  };

  const paymentGateway: PaymentGatewayConfig = {
    latencyMs: readInteger(
      read('ORDERFLOW_GATEWAY_LATENCY_MS'),
      'ORDERFLOW_GATEWAY_LATENCY_MS',
      DEFAULT_GATEWAY_LATENCY_MS,
      0,
      MAX_GATEWAY_MS,
      problems,
    ),
    failureRate: readFraction(
      read('ORDERFLOW_GATEWAY_FAILURE_RATE'),
      'ORDERFLOW_GATEWAY_FAILURE_RATE',
      DEFAULT_GATEWAY_FAILURE_RATE,
      problems,
    ),
    timeoutMs: readInteger(
      read('ORDERFLOW_GATEWAY_TIMEOUT_MS'),
      'ORDERFLOW_GATEWAY_TIMEOUT_MS',
      DEFAULT_GATEWAY_TIMEOUT_MS,
      1,
      MAX_GATEWAY_MS,
      problems,
    ),
  };
  if (paymentGateway.latencyMs >= paymentGateway.timeoutMs) {
    problems.push(
      `ORDERFLOW_GATEWAY_LATENCY_MS=${paymentGateway.latencyMs}: must be less than ORDERFLOW_GATEWAY_TIMEOUT_MS (${paymentGateway.timeoutMs}), or every gateway call would time out`,
    );
  }

  const saga: SagaConfig = {
    reservationTtlMs: readInteger(
      read('ORDERFLOW_RESERVATION_TTL_MS'),
      'ORDERFLOW_RESERVATION_TTL_MS',
      DEFAULT_RESERVATION_TTL_MS,
      1,
      MAX_RESERVATION_TTL_MS,
      problems,
    ),
    stepTimeoutMs: readInteger(
      read('ORDERFLOW_SAGA_STEP_TIMEOUT_MS'),
      'ORDERFLOW_SAGA_STEP_TIMEOUT_MS',
      DEFAULT_SAGA_STEP_TIMEOUT_MS,
      1,
      MAX_SAGA_STEP_TIMEOUT_MS,
      problems,
    ),
    paymentMaxAttempts: readInteger(
      read('ORDERFLOW_PAYMENT_MAX_ATTEMPTS'),
      'ORDERFLOW_PAYMENT_MAX_ATTEMPTS',
      DEFAULT_PAYMENT_MAX_ATTEMPTS,
      1,
      MAX_PAYMENT_ATTEMPTS,
      problems,
    ),
  };

  if (
    problems.length > 0 ||
    store === undefined ||
    bus === undefined ||
    sqliteSynchronous === undefined ||
    logLevel === undefined
  ) {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      `invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
      { retryable: false, details: { problems } },
    );
  }

  return deepFreeze({
    port,
    host,
    dataDir,
    store,
    bus,
    adminKey,
    carrierDelayMs,
    carrierFailureRate,
    notifications,
    namespace,
    partitions,
    postgresPoolSize,
    sqliteSynchronous,
    logLevel,
    fraud,
    paymentGateway,
    saga,
  });
}

/** The problems listed in a CONFIG_INVALID error, one per entry. */
export function configProblems(error: AppError): string[] {
  const problems = error.details?.problems;
  return Array.isArray(problems) ? problems.map(String) : [error.message];
}

function readInteger(
  text: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (text === undefined) return fallback;
  const value = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${name}=${JSON.stringify(text)}: must be an integer from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

function readFraction(text: string | undefined, name: string, fallback: number, problems: string[]): number {
  if (text === undefined) return fallback;
  const value = /^(?:0|1|0?\.\d+|[01]\.0*)$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    problems.push(`${name}=${JSON.stringify(text)}: must be a number from 0 to 1, e.g. 0.05`);
    return fallback;
  }
  return value;
}

function readStore(text: string | undefined, dataDir: string, problems: string[]): StoreConfig | undefined {
  if (text === undefined || text === 'embedded' || text === 'sqlite') {
    return { kind: 'sqlite', file: path.join(dataDir, SQLITE_FILE_NAME) };
  }
  if (text.startsWith('sqlite:')) {
    const file = text.slice('sqlite:'.length);
    if (file === '') {
      problems.push(
        'ORDERFLOW_STORE="sqlite:": needs a file name after "sqlite:", e.g. sqlite:./data/orderflow.db',
      );
      return undefined;
    }
    return { kind: 'sqlite', file: path.resolve(file) };
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    if (!isUrl(text)) {
      problems.push('ORDERFLOW_STORE: is not a valid postgres:// URL');
      return undefined;
    }
    return { kind: 'postgres', url: text };
  }
  problems.push(
    `ORDERFLOW_STORE=${JSON.stringify(text)}: must be "embedded", "sqlite:<file>" or a postgres:// URL`,
  );
  return undefined;
}

function readBus(text: string | undefined, problems: string[]): BusConfig | undefined {
  if (text === undefined || text === 'embedded') return { kind: 'embedded' };
  if (text.startsWith('nats://')) {
    if (!isUrl(text)) {
      problems.push('ORDERFLOW_BUS: is not a valid nats:// URL');
      return undefined;
    }
    return { kind: 'nats', url: text };
  }
  problems.push(`ORDERFLOW_BUS=${JSON.stringify(text)}: must be "embedded" or a nats:// URL`);
  return undefined;
}

/** An absolute URL with one of `protocols` (e.g. `['http:', 'https:']`), or undefined when unset. */
function readUrl(
  text: string | undefined,
  name: string,
  protocols: readonly string[],
  problems: string[],
): string | undefined {
  if (text === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || !protocols.includes(url.protocol) || url.host === '') {
    const schemes = protocols.map((protocol) => `${protocol}//`).join(' or ');
    // The value is not echoed: an SMTP URL may carry a password.
    problems.push(`${name}: must be an absolute ${schemes} URL`);
    return undefined;
  }
  return text;
}

function isUrl(text: string): boolean {
  try {
    return new URL(text).host !== '';
  } catch {
    return false;
  }
}

function oneOf<T extends string>(allowed: readonly T[], value: string): T | undefined {
  return (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

import path from 'node:path';
import { AppError, ERROR_CODES } from '../shared/errors.ts';

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
  /** `ORDERFLOW_NAMESPACE`. @default 'orderflow' */
  readonly namespace: string;
  /** `ORDERFLOW_PARTITIONS`: partitions per consumer group; fixed for the life of a deployment. @default 16 */
  readonly partitions: number;
  /** `ORDERFLOW_SQLITE_SYNCHRONOUS`. @default 'FULL' */
  readonly sqliteSynchronous: SqliteSynchronous;
  /** `ORDERFLOW_LOG_LEVEL`. @default 'info' */
  readonly logLevel: LogLevel;
}

export const DEFAULT_PORT = 3000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_CARRIER_DELAY_MS = 5000;
export const DEFAULT_NAMESPACE = 'orderflow';
export const DEFAULT_PARTITIONS = 16;
export const SQLITE_FILE_NAME = 'orderflow.db';

const MAX_CARRIER_DELAY_MS = 86_400_000;
const MAX_PARTITIONS = 1024;
const MIN_ADMIN_KEY_LENGTH = 16;
const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]*$/;
const MAX_NAMESPACE_LENGTH = 32;
// Hostnames, IPv4 and IPv6 literals; anything else fails at listen time with a worse message.
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;
const DISTRIBUTED_UNAVAILABLE = 'distributed mode is not available in this build yet';

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

  if (
    problems.length > 0 ||
    store === undefined ||
    bus === undefined ||
    sqliteSynchronous === undefined ||
    logLevel === undefined
  ) {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      'validation',
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
    namespace,
    partitions,
    sqliteSynchronous,
    logLevel,
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
    problems.push(
      `ORDERFLOW_STORE=postgres://…: ${DISTRIBUTED_UNAVAILABLE}; unset it for the embedded store`,
    );
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
    problems.push(`ORDERFLOW_BUS=nats://…: ${DISTRIBUTED_UNAVAILABLE}; unset it for the embedded bus`);
    return { kind: 'nats', url: text };
  }
  problems.push(`ORDERFLOW_BUS=${JSON.stringify(text)}: must be "embedded" or a nats:// URL`);
  return undefined;
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

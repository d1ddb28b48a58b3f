import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../kernel/errors.ts';
import {
  acceptsValue,
  CONFIG_RULES,
  CONFIG_SCHEMA,
  configVariables,
  isAbsoluteUrl,
  parseVariable,
  SQLITE_FILE_NAME,
  variableProblem,
  type AppConfig,
  type BusConfig,
  type StoreConfig,
  type VariableSchema,
} from './config-schema.ts';

export {
  LOG_LEVELS,
  SQLITE_FILE_NAME,
  SQLITE_SYNCHRONOUS_MODES,
  type AppConfig,
  type BusConfig,
  type FraudConfig,
  type LogLevel,
  type NotificationsConfig,
  type PaymentGatewayConfig,
  type SagaConfig,
  type SqliteSynchronous,
  type StoreConfig,
} from './config-schema.ts';

/**
 * Orderflow's configuration (DESIGN.md §6). This module is the only reader of `process.env`: it
 * reads every variable of CONFIG_SCHEMA (src/config/config-schema.ts) at once, applies the schema's
 * defaults and returns a deep-frozen AppConfig. On bad input it throws one InvalidOptionsError
 * (CONFIG_INVALID) whose message lists every problem on its own line:
 * `<variable> must be … (got …)`.
 */

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Variables whose value is built from their text (or their schema's default) rather than read as a
 * scalar: the data dir (an absolute path), the store and the bus (discriminated unions). The schema
 * then checks the result; undefined means "refused".
 */
const DECODERS: Readonly<Record<string, (text: string | undefined, config: Partial<AppConfig>) => unknown>> =
  {
    ORDERFLOW_DATA_DIR: (text) => (text === undefined ? undefined : path.resolve(text)),
    ORDERFLOW_STORE: (text, { dataDir }): StoreConfig | undefined => {
      if (text === undefined || text === 'embedded' || text === 'sqlite') {
        return dataDir === undefined
          ? undefined
          : { kind: 'sqlite', file: path.join(dataDir, SQLITE_FILE_NAME) };
      }
      if (text.startsWith('sqlite:')) {
        const file = text.slice('sqlite:'.length);
        return file === '' ? undefined : { kind: 'sqlite', file: path.resolve(file) };
      }
      if (/^postgres(ql)?:\/\//.test(text) && isAbsoluteUrl(text, ['postgres', 'postgresql'])) {
        return { kind: 'postgres', url: text };
      }
      return undefined;
    },
    ORDERFLOW_BUS: (text): BusConfig | undefined => {
      if (text === undefined || text === 'embedded') return { kind: 'embedded' };
      return text.startsWith('nats://') && isAbsoluteUrl(text, ['nats'])
        ? { kind: 'nats', url: text }
        : undefined;
    },
  };

export function loadConfig(env: Env = process.env): AppConfig {
  // An empty variable counts as unset, so `ORDERFLOW_PORT= npm start` means "the default".
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const problems: string[] = [];
  const refused = new Set<string>();
  const config: Record<string, unknown> = {};
  for (const { path: at, schema } of configVariables()) {
    const name = schema['x-env'];
    const text = read(name);
    const value = readVariable(schema, text, config);
    if (value.ok) {
      setAt(config, at, value.value);
    } else {
      refused.add(name);
      problems.push(variableProblem(schema, text ?? ''));
    }
  }
  for (const rule of CONFIG_RULES) {
    if (rule.variables.some((name) => refused.has(name))) continue;
    const problem = rule.check(config as unknown as AppConfig);
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems, { subject: 'configuration' });

  // The result is the schema's type: a failure here is a bug in this module, not bad input.
  if (!Value.Check(CONFIG_SCHEMA, config)) {
    const first = Value.Errors(CONFIG_SCHEMA, config).First();
    throw new AppError(
      ERROR_CODES.INTERNAL,
      `loadConfig built a config that does not match its schema: ${first?.path ?? ''} ${first?.message ?? ''}`,
    );
  }
  return deepFreeze(config as unknown as AppConfig);
}

/** The problems listed in a CONFIG_INVALID error, one per entry. */
export function configProblems(error: AppError): string[] {
  const problems = error.details?.problems;
  return Array.isArray(problems) ? problems.map(String) : [error.message];
}

function readVariable(
  schema: VariableSchema,
  text: string | undefined,
  config: Partial<AppConfig>,
): { ok: true; value: unknown } | { ok: false } {
  const decode = DECODERS[schema['x-env']];
  if (decode !== undefined) {
    const value = decode(text ?? (schema.default as string | undefined), config);
    return value !== undefined && acceptsValue(schema, value) ? { ok: true, value } : { ok: false };
  }
  if (text === undefined) return { ok: true, value: schema.default as unknown };
  const value = parseVariable(schema, text);
  return value !== undefined && acceptsValue(schema, value) ? { ok: true, value } : { ok: false };
}

function setAt(target: Record<string, unknown>, at: readonly string[], value: unknown): void {
  let node = target;
  for (const key of at.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[at[at.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

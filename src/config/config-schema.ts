import { KindGuard, Type, type Static, type TLiteral, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AppError, ERROR_CODES } from '../kernel/errors.ts';

/**
 * Orderflow's configuration, described once (DESIGN.md §6, STYLE.md §5): every `ORDERFLOW_*`
 * variable is a leaf of CONFIG_SCHEMA, a TypeBox schema shaped like AppConfig. A leaf carries the
 * variable's name (`x-env`), its JSON Schema type, bounds, pattern and `default`, and the text the
 * docs and the errors use (`description`, `x-expected`, `x-default`). From it come:
 *
 * - the AppConfig type (`Static` of the schema, deeply readonly),
 * - the defaults and the checks of loadConfig (src/config/load-config.ts), whose one error lists a
 *   `<variable> must be <x-expected> (got <value>)` line per bad variable,
 * - the table of docs/configuration.md (src/config/configuration-doc.ts, `npm run docs:config`).
 *
 * Checks that involve two variables are CONFIG_RULES, below the schema.
 */

/** What a variable's schema carries beside JSON Schema's own `description`, `default`, bounds and `examples`. */
export interface VariableAnnotations {
  /** The environment variable, `ORDERFLOW_…`. */
  readonly 'x-env': string;
  /** The docs' "meaning" column. */
  readonly description: string;
  /**
   * What a value must be, completing "must be …" (errors) and shown as the docs' accepted values;
   * `code` in backticks. Derived from the schema when absent (integers, numbers, enumerations, URLs).
   */
  readonly 'x-expected'?: string;
  /** The default as the docs show it, when the schema's `default` does not say it. */
  readonly 'x-default'?: string;
  /** Never echo the value in an error, only its length (a key). */
  readonly 'x-secret'?: boolean;
  /** URL variables: the accepted schemes, e.g. `['http', 'https']`; the value must be an absolute URL with a host. */
  readonly 'x-protocols'?: readonly string[];
}

/** A leaf of CONFIG_SCHEMA: one environment variable. */
export type VariableSchema = TSchema & VariableAnnotations;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const SQLITE_SYNCHRONOUS_MODES = ['FULL', 'NORMAL'] as const;
/** The embedded store's file in the data dir. */
export const SQLITE_FILE_NAME = 'orderflow.db';

const DAY_MS = 86_400_000;

// Hostnames, IPv4 and IPv6 literals; anything else fails at listen time with a worse message.
const HOST_PATTERN =
  '^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$';

interface Doc {
  description: string;
  expected?: string;
  defaultText?: string;
  secret?: boolean;
  protocols?: readonly string[];
}

function annotations(env: string, doc: Doc): VariableAnnotations {
  return {
    'x-env': env,
    description: doc.description,
    ...(doc.expected !== undefined ? { 'x-expected': doc.expected } : {}),
    ...(doc.defaultText !== undefined ? { 'x-default': doc.defaultText } : {}),
    ...(doc.secret === true ? { 'x-secret': true } : {}),
    ...(doc.protocols !== undefined ? { 'x-protocols': doc.protocols } : {}),
  };
}

function integer(
  env: string,
  options: Doc & { minimum: number; maximum: number; default: number },
): ReturnType<typeof Type.Integer> {
  const { minimum, maximum, default: fallback, ...doc } = options;
  return Type.Integer({ minimum, maximum, default: fallback, ...annotations(env, doc) });
}

/** A fraction from 0 to 1. */
function fraction(env: string, options: Doc & { default: number }): ReturnType<typeof Type.Number> {
  const { default: fallback, ...doc } = options;
  return Type.Number({
    minimum: 0,
    maximum: 1,
    default: fallback,
    examples: [0.05],
    ...annotations(env, doc),
  });
}

/** One of `values`, in any case. */
function oneOf<const T extends readonly [string, ...string[]]>(
  env: string,
  values: T,
  options: Doc & { default: T[number] },
) {
  const { default: fallback, ...doc } = options;
  const literals: TLiteral<T[number]>[] = values.map((value: T[number]) => Type.Literal(value));
  return Type.Union(literals, { default: fallback, ...annotations(env, doc) });
}

function text(
  env: string,
  options: Doc & { expected: string; default: string; pattern?: string; maxLength?: number },
): ReturnType<typeof Type.String> {
  const { default: fallback, pattern, maxLength, ...doc } = options;
  return Type.String({
    minLength: 1,
    default: fallback,
    ...(pattern !== undefined ? { pattern } : {}),
    ...(maxLength !== undefined ? { maxLength } : {}),
    ...annotations(env, doc),
  });
}

/** A string that may be unset (no default). */
function optionalText(env: string, options: Doc & { minLength?: number; pattern?: string }) {
  const { minLength, pattern, ...doc } = options;
  return Type.Union(
    [
      Type.String({
        minLength: minLength ?? 1,
        ...(pattern !== undefined ? { pattern } : {}),
      }),
      Type.Undefined(),
    ],
    annotations(env, doc),
  );
}

/** An absolute URL with one of `protocols` and a host, or unset. */
function optionalUrl(env: string, protocols: readonly [string, ...string[]], doc: Doc) {
  return optionalText(env, { ...doc, protocols });
}

export const CONFIG_SCHEMA = Type.Object({
  port: integer('ORDERFLOW_PORT', {
    minimum: 0,
    maximum: 65_535,
    default: 3000,
    description:
      'Port of the API, the dashboard, `/healthz`, `/readyz` and `/metrics`. `0` lets the OS pick a free port; the ready line shows the one it picked.',
  }),
  host: text('ORDERFLOW_HOST', {
    default: '127.0.0.1',
    pattern: HOST_PATTERN,
    expected: 'a host name or an IP address, e.g. `127.0.0.1`',
    description: 'Interface to listen on. `0.0.0.0` listens on every interface.',
  }),
  dataDir: text('ORDERFLOW_DATA_DIR', {
    default: './data',
    expected: 'a directory (created if missing)',
    description:
      "Embedded mode's data: the SQLite file `orderflow.db`, the generated admin key, the pid file of the running server. Relative paths are resolved against the working directory.",
  }),
  store: Type.Union(
    [
      Type.Object({ kind: Type.Literal('sqlite'), file: Type.String({ minLength: 1 }) }),
      Type.Object({ kind: Type.Literal('postgres'), url: Type.String({ minLength: 1 }) }),
    ],
    annotations('ORDERFLOW_STORE', {
      defaultText: 'embedded SQLite in the data dir',
      expected: '`embedded` (or `sqlite`), `sqlite:<file>` or a `postgres://…` URL',
      description:
        'Where events, the outbox, inboxes and dead letters live. `sqlite:<file>` puts the SQLite file elsewhere. `postgres://…` (or `postgresql://…`) is the distributed mode: every table lives in the schema named after `ORDERFLOW_NAMESPACE` (created at start). It needs `ORDERFLOW_BUS=nats://…`: a mixed pair is refused.',
    }),
  ),
  bus: Type.Union(
    [
      Type.Object({ kind: Type.Literal('embedded') }),
      Type.Object({ kind: Type.Literal('nats'), url: Type.String({ minLength: 1 }) }),
    ],
    annotations('ORDERFLOW_BUS', {
      defaultText: '`embedded`',
      expected: '`embedded` or a `nats://…` URL',
      description:
        "How messages travel between contexts. The embedded bus lives in the same SQLite file. `nats://…` is the distributed mode's JetStream bus, fed by the outbox relay; it needs `ORDERFLOW_STORE=postgres://…`.",
    }),
  ),
  adminKey: optionalText('ORDERFLOW_ADMIN_KEY', {
    minLength: 16,
    pattern: '^\\S+$',
    secret: true,
    defaultText: 'generated at first start',
    expected: 'at least 16 characters without spaces, or unset to have one generated',
    description:
      'Bearer key of the admin endpoints (`Authorization: Bearer <key>`). When unset, the first start generates a random key, stores it in `<data dir>/admin-key` (mode 0600) and prints it once; later starts read it from there.',
  }),
  carrierDelayMs: integer('ORDERFLOW_CARRIER_DELAY_MS', {
    minimum: 0,
    maximum: DAY_MS,
    default: 5000,
    description:
      "The carrier simulator's delay before dispatch and before delivery. `0` = at once (tests, benchmarks). An operator can change it while Orderflow runs (`PUT /v1/admin/simulators/carrier`, see [operations.md](operations.md)); a change is stored and stays in force across restarts, over this value.",
  }),
  carrierFailureRate: fraction('ORDERFLOW_CARRIER_FAILURE_RATE', {
    default: 0,
    description:
      "Fraction of the carrier simulator's dispatch attempts that fail as if the carrier's pickup API were down (error `CARRIER_UNAVAILABLE`); the fulfillment consumer retries them with backoff, and after its attempts dead-letters them. For resilience drills; `0` = never. An operator can change it while Orderflow runs (`PUT /v1/admin/simulators/carrier`, see [operations.md](operations.md)); a change is stored and stays in force across restarts, over this value.",
  }),
  notifications: Type.Object({
    smtpUrl: optionalUrl('ORDERFLOW_SMTP_URL', ['smtp', 'smtps'], {
      description:
        'Send customer e-mails through this SMTP server, e.g. `smtp://127.0.0.1:2525` (credentials in the URL, if any). Unset: each e-mail is written as an `.eml` file to `<data dir>/mail/` (one file per notification, named after its notification id). A refused value is echoed in the error with its password hidden.',
    }),
    vendorWebhookUrl: optionalUrl('ORDERFLOW_VENDOR_WEBHOOK_URL', ['http', 'https'], {
      description:
        'Default webhook endpoint for every vendor that registered none of its own (`PUT /v1/admin/vendors/{vendorId}/webhook`). Signed with a per-vendor secret derived from the admin key; see [webhooks.md](webhooks.md). Unset: only vendors with their own endpoint get webhooks.',
    }),
    webhookTimeoutMs: integer('ORDERFLOW_WEBHOOK_TIMEOUT_MS', {
      minimum: 1,
      maximum: 300_000,
      default: 5000,
      description:
        'How long a vendor webhook POST may take; a timeout counts as a failed attempt (retried with backoff, then dead-lettered).',
    }),
  }),
  namespace: text('ORDERFLOW_NAMESPACE', {
    default: 'orderflow',
    pattern: '^[a-z][a-z0-9_]*$',
    maxLength: 32,
    expected: 'a name matching `[a-z][a-z0-9_]*` of at most 32 characters',
    description:
      'Prefix of every stream, subject, consumer and database schema, so that several deployments can share one server.',
  }),
  partitions: integer('ORDERFLOW_PARTITIONS', {
    minimum: 1,
    maximum: 1024,
    default: 16,
    description:
      'Partitions per consumer group. Messages with the same partition key (the order id) are handled in order; different partitions in parallel. Fixed for the life of a deployment: changing it re-maps keys to partitions.',
  }),
  postgresPoolSize: integer('ORDERFLOW_POSTGRES_POOL_SIZE', {
    minimum: 1,
    maximum: 1000,
    default: 10,
    description:
      "Distributed mode: connections in each process's event-store pool. A process holds about this many plus 5 (notifications listener, outbox relay, dead letters): size it so that processes × (pool + 5) stays under PostgreSQL's `max_connections` (100 by default).",
  }),
  sqliteSynchronous: oneOf('ORDERFLOW_SQLITE_SYNCHRONOUS', SQLITE_SYNCHRONOUS_MODES, {
    default: 'FULL',
    description:
      "SQLite's `synchronous` pragma. `FULL` fsyncs every commit: an accepted order survives a power loss. `NORMAL` is faster but may lose the last commits on power loss (not on a process crash).",
  }),
  logLevel: oneOf('ORDERFLOW_LOG_LEVEL', LOG_LEVELS, {
    default: 'info',
    description: 'Level of the JSON logs (pino) written to standard output.',
  }),
  fraud: Type.Object({
    threshold: integer('ORDERFLOW_FRAUD_THRESHOLD', {
      minimum: 1,
      maximum: 10_000,
      default: 70,
      description:
        'Fraud score at or above which an order is rejected (`fraud_suspected`). Every `FraudAssessed` event records the score, the threshold in force and each rule that fired with its points and an explanation.',
    }),
    amountReview: integer('ORDERFLOW_FRAUD_AMOUNT_REVIEW', {
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 200_000,
      description:
        'Order amount, in minor units of its currency (`200000` = 2,000.00 USD), above which the `amount` rule scores: 20 points above it, 35 above twice it, 50 above five times it.',
    }),
    velocityWindowMs: integer('ORDERFLOW_FRAUD_VELOCITY_WINDOW_MS', {
      minimum: 1,
      maximum: 7 * DAY_MS,
      default: 600_000,
      description:
        "The window (10 minutes by default) in which the velocity rules count a customer's orders and a card's orders.",
    }),
    velocityLimit: integer('ORDERFLOW_FRAUD_VELOCITY_LIMIT', {
      minimum: 1,
      maximum: 1_000_000,
      default: 5,
      description:
        'Orders allowed per customer, and per card (full payment token), in the window. Above it `customer_velocity` scores 30 points and `token_velocity` 40, each 10 more per further order, up to 70 (a rejection alone at the default threshold).',
    }),
  }),
  paymentGateway: Type.Object({
    latencyMs: integer('ORDERFLOW_GATEWAY_LATENCY_MS', {
      minimum: 0,
      maximum: 300_000,
      default: 0,
      expected: 'an integer from 0 to 300000, below `ORDERFLOW_GATEWAY_TIMEOUT_MS`',
      description:
        "The built-in payment gateway simulator's delay on every call (authorize, capture, void, refund). The simulator plays the outside provider: it keeps its own ledger of every operation, by idempotency key, in `<data dir>/simulators/payment-gateway.db`. An operator can change it while Orderflow runs (`PUT /v1/admin/simulators/payment-gateway`, see [operations.md](operations.md)); a change is stored and stays in force across restarts, over this value.",
    }),
    failureRate: fraction('ORDERFLOW_GATEWAY_FAILURE_RATE', {
      default: 0,
      description:
        "Fraction of the simulator's calls that fail as unavailable before doing anything (`GATEWAY_UNAVAILABLE`); the payments consumer retries them with backoff. An operator can change it while Orderflow runs (`PUT /v1/admin/simulators/payment-gateway`, see [operations.md](operations.md)); a change is stored and stays in force across restarts, over this value.",
    }),
    timeoutMs: integer('ORDERFLOW_GATEWAY_TIMEOUT_MS', {
      minimum: 1,
      maximum: 300_000,
      default: 2000,
      description:
        'How long a gateway call may take. An authorization that takes longer is recorded as `PaymentTimedOut` and retried by the saga as a new attempt (`tok_timeout` does this once).',
    }),
  }),
  saga: Type.Object({
    reservationTtlMs: integer('ORDERFLOW_RESERVATION_TTL_MS', {
      minimum: 1,
      maximum: 7 * DAY_MS,
      default: 900_000,
      description:
        "How long the order saga's stock reservations hold before the order is confirmed (`ttlMs` of `ReserveStock`). A reservation that expires first is released by inventory and the order is rejected with reason `timeout`.",
    }),
    stepTimeoutMs: integer('ORDERFLOW_SAGA_STEP_TIMEOUT_MS', {
      minimum: 1,
      maximum: DAY_MS,
      default: 30_000,
      description:
        'How long a step of the order saga (or a compensation) waits for its replies, per attempt; a durable timer that survives restarts. On expiry the step re-sends its commands while it has attempts left, then fails with reason `timeout`; a compensation that runs out of attempts parks the saga as `needs_attention` (`GET /v1/admin/sagas?status=needs_attention`).',
    }),
    paymentMaxAttempts: integer('ORDERFLOW_PAYMENT_MAX_ATTEMPTS', {
      minimum: 1,
      maximum: 10,
      default: 3,
      description:
        'Payment authorization attempts, the first included. A `PaymentTimedOut` (or a step timeout) sends `AuthorizePayment` again with `attempt + 1`; after the last attempt the order is rejected with reason `timeout`.',
    }),
  }),
  operations: Type.Object({
    alertRulesFile: optionalText('ORDERFLOW_ALERT_RULES', {
      expected: 'the path of a YAML or JSON file of alert rules',
      description:
        'Adds alert rules to the built-in ones, or overrides a built-in rule of the same name (its fields replace the built-in ones). The file format and the built-in rules are in [operations.md](operations.md); a file that cannot be read or has a wrong rule is refused at start, with every problem listed.',
    }),
    alertEvalIntervalMs: integer('ORDERFLOW_ALERT_EVAL_INTERVAL_MS', {
      minimum: 100,
      maximum: 3_600_000,
      default: 5000,
      description:
        'How often the process with the `operations` role samples the metrics and evaluates every alert rule (pending, firing, inactive).',
    }),
    incidentQuietMs: integer('ORDERFLOW_INCIDENT_QUIET_MS', {
      minimum: 0,
      maximum: 7 * DAY_MS,
      default: 300_000,
      description:
        'An incident whose alerts have all stopped firing resolves itself after this long without a firing alert (written in its timeline). `0` = at once.',
    }),
    incidentWebhookUrl: optionalUrl('ORDERFLOW_INCIDENT_WEBHOOK_URL', ['http', 'https'], {
      description:
        'Receives each incident transition (trigger, acknowledge, resolve) as a PagerDuty Events v2 shaped JSON, signed like vendor webhooks with a secret derived from the admin key ([operations.md](operations.md)); retried with backoff, deduplicated by `dedup_key`. Unset: no incident webhook.',
    }),
    priceTableFile: optionalText('ORDERFLOW_PRICE_TABLE', {
      expected: 'the path of a YAML or JSON price table',
      defaultText: 'public-cloud list prices (operations.md)',
      description:
        'Prices per region (core-hour, GB-month of storage, currency) behind `orderflow_estimated_cost_per_order`. A file replaces the built-in table region by region; the built-in prices are in [operations.md](operations.md).',
    }),
    slo: Type.Object({
      placedToConfirmedMs: integer('ORDERFLOW_SLO_PLACED_TO_CONFIRMED_MS', {
        minimum: 1,
        maximum: 30 * DAY_MS,
        default: 60_000,
        description:
          'Time objective from placement to confirmation (stock reserved, fraud assessed, payment authorized). A `pending` order older than this counts in revenue at risk.',
      }),
      confirmedToShippedMs: integer('ORDERFLOW_SLO_CONFIRMED_TO_SHIPPED_MS', {
        minimum: 1,
        maximum: 30 * DAY_MS,
        default: DAY_MS,
        description:
          'Time objective from confirmation to the last shipment dispatched. A confirmed (or partially shipped) order confirmed longer ago counts in revenue at risk.',
      }),
      placedToDeliveredMs: integer('ORDERFLOW_SLO_PLACED_TO_DELIVERED_MS', {
        minimum: 1,
        maximum: 90 * DAY_MS,
        default: 5 * DAY_MS,
        description:
          'Time objective from placement to delivery. An order not delivered this long after placement counts in revenue at risk.',
      }),
    }),
  }),
});

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** Orderflow's configuration, as loadConfig returns it (deeply frozen). */
export type AppConfig = DeepReadonly<Static<typeof CONFIG_SCHEMA>>;
/** Where events, the outbox and inboxes live. */
export type StoreConfig = AppConfig['store'];
/** How messages travel between contexts. */
export type BusConfig = AppConfig['bus'];
/** The payments context's fraud rules (src/contexts/payments/domain/fraud-rules.ts). */
export type FraudConfig = AppConfig['fraud'];
/** The built-in payment gateway simulator (the provider's test mode). */
export type PaymentGatewayConfig = AppConfig['paymentGateway'];
/** The notifications context: customer e-mails and vendor webhooks. */
export type NotificationsConfig = AppConfig['notifications'];
/** The order saga (src/sagas): step deadlines and retries, and how long stock is held unpaid. */
export type SagaConfig = AppConfig['saga'];
/** The operations role: alert rules, incidents, stage time objectives and the price table. */
export type OperationsConfig = AppConfig['operations'];
/** Stage time objectives (ORDERFLOW_SLO_*), in milliseconds. */
export type StageObjectives = OperationsConfig['slo'];
export type LogLevel = AppConfig['logLevel'];
export type SqliteSynchronous = AppConfig['sqliteSynchronous'];

/** Checks that involve more than one variable; each runs only when its variables are valid one by one. */
export interface ConfigRule {
  readonly variables: readonly string[];
  /** The problem, as `<variable> must be … (got …)`, or undefined when the config passes. */
  check(config: AppConfig): string | undefined;
}

const PAIRING = 'distributed mode runs on PostgreSQL and NATS JetStream together';

export const CONFIG_RULES: readonly ConfigRule[] = [
  {
    // Two valid pairs: the embedded store with the embedded bus, PostgreSQL with JetStream.
    variables: ['ORDERFLOW_STORE', 'ORDERFLOW_BUS'],
    check: ({ store, bus }) => {
      if (store.kind === 'postgres' && bus.kind !== 'nats') {
        return `ORDERFLOW_BUS must be a nats:// URL when ORDERFLOW_STORE is a postgres:// URL (got embedded): ${PAIRING}; set both, or unset ORDERFLOW_STORE for the embedded mode`;
      }
      if (bus.kind === 'nats' && store.kind !== 'postgres') {
        return `ORDERFLOW_STORE must be a postgres:// URL when ORDERFLOW_BUS is a nats:// URL (got SQLite): ${PAIRING}; set both, or unset ORDERFLOW_BUS for the embedded mode`;
      }
      return undefined;
    },
  },
  {
    variables: ['ORDERFLOW_GATEWAY_LATENCY_MS', 'ORDERFLOW_GATEWAY_TIMEOUT_MS'],
    check: ({ paymentGateway: { latencyMs, timeoutMs } }) =>
      latencyMs < timeoutMs
        ? undefined
        : `ORDERFLOW_GATEWAY_LATENCY_MS must be less than ORDERFLOW_GATEWAY_TIMEOUT_MS (${timeoutMs}), or every gateway call would time out (got "${latencyMs}")`,
  },
];

/** Every variable of the schema, in declaration order, with where it goes in AppConfig. */
export function configVariables(
  schema: TObject = CONFIG_SCHEMA,
  at: readonly string[] = [],
): { path: readonly string[]; schema: VariableSchema }[] {
  const variables: { path: readonly string[]; schema: VariableSchema }[] = [];
  for (const [key, property] of Object.entries(schema.properties)) {
    const path = [...at, key];
    if (isVariable(property)) variables.push({ path, schema: property });
    else if (KindGuard.IsObject(property)) variables.push(...configVariables(property, path));
    else throw schemaBug(`${path.join('.')} has no x-env`);
  }
  return variables;
}

/** A mistake in CONFIG_SCHEMA itself (caught by its unit tests), not in the environment. */
function schemaBug(message: string): AppError {
  return new AppError(ERROR_CODES.INTERNAL, `config schema: ${message}`, { retryable: false });
}

function isVariable(schema: TSchema): schema is VariableSchema {
  return typeof schema['x-env'] === 'string';
}

/** The variable's schema without "unset": the string of an optional variable. */
function valueSchema(schema: TSchema): TSchema {
  if (KindGuard.IsUnion(schema)) {
    const set = schema.anyOf.filter((member) => !KindGuard.IsUndefined(member));
    if (set.length === 1) return set[0]!;
  }
  return schema;
}

function literalsOf(schema: TSchema): string[] | undefined {
  if (!KindGuard.IsUnion(schema) || !schema.anyOf.every((member) => KindGuard.IsLiteral(member))) {
    return undefined;
  }
  return schema.anyOf.map((member) => String(member.const));
}

/** What the variable's value must be, completing "must be …"; `code` in backticks. */
export function expectedOf(schema: VariableSchema): string {
  if (schema['x-expected'] !== undefined) return schema['x-expected'];
  const protocols = schema['x-protocols'];
  if (protocols !== undefined) {
    return `an absolute ${protocols.map((protocol) => `\`${protocol}://\``).join(' or ')} URL`;
  }
  const value = valueSchema(schema);
  const literals = literalsOf(value);
  if (literals !== undefined) return `one of ${literals.map((v) => `\`${v}\``).join(', ')}, in any case`;
  if (KindGuard.IsInteger(value) || KindGuard.IsNumber(value)) {
    const kind = KindGuard.IsInteger(value) ? 'an integer' : 'a number';
    const { minimum, maximum } = value;
    const range =
      maximum === undefined || maximum >= Number.MAX_SAFE_INTEGER
        ? `${kind} of at least ${String(minimum)}`
        : `${kind} from ${String(minimum)} to ${String(maximum)}`;
    const examples = value.examples as unknown[] | undefined;
    return examples === undefined ? range : `${range}, e.g. \`${String(examples[0])}\``;
  }
  throw schemaBug(`${schema['x-env']} needs x-expected`);
}

/** The default as the docs show it. */
export function defaultTextOf(schema: VariableSchema): string {
  if (schema['x-default'] !== undefined) return schema['x-default'];
  if (schema.default !== undefined) return `\`${String(schema.default)}\``;
  return 'unset';
}

/**
 * The value a variable's text stands for, before the schema checks it: integers and numbers are
 * read as decimals, an enumeration's value in any case; undefined when the text cannot be one.
 * Store and bus (objects made of text) are read by loadConfig.
 */
export function parseVariable(schema: VariableSchema, text: string): unknown {
  const value = valueSchema(schema);
  if (KindGuard.IsInteger(value)) return /^-?\d+$/.test(text) ? Number(text) : undefined;
  if (KindGuard.IsNumber(value)) return /^-?(?:\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : undefined;
  const literals = literalsOf(value);
  if (literals !== undefined) return literals.find((literal) => literal.toLowerCase() === text.toLowerCase());
  if (KindGuard.IsString(value)) return text;
  throw schemaBug(`${schema['x-env']} is not read from text`);
}

/** Whether `value` is acceptable for the variable: its schema, and an absolute URL for URL variables. */
export function acceptsValue(schema: VariableSchema, value: unknown): boolean {
  if (!Value.Check(schema, value)) return false;
  const protocols = schema['x-protocols'];
  return (
    protocols === undefined ||
    value === undefined ||
    (typeof value === 'string' && isAbsoluteUrl(value, protocols))
  );
}

/** An absolute URL with a host and one of `protocols` (`['nats']`), e.g. `nats://127.0.0.1:4222`. */
export function isAbsoluteUrl(text: string, protocols: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return protocols.some((protocol) => url.protocol === `${protocol}:`) && url.host !== '';
}

/**
 * The problem line of a refused value: `<variable> must be <expected> (got <value>)`. The value is
 * quoted with the password of a URL hidden; a secret is not shown at all, only its length.
 */
export function variableProblem(schema: VariableSchema, text: string): string {
  const got =
    schema['x-secret'] === true ? `${text.length} characters, not shown` : JSON.stringify(hidePassword(text));
  return `${schema['x-env']} must be ${plainText(expectedOf(schema))} (got ${got})`;
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`; other text as it is. */
export function hidePassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#]*@/i, '$1***@');
}

/** The docs' markdown without its code marks, for error messages. */
export function plainText(markdown: string): string {
  return markdown.replace(/`([^`]*)`/g, '$1');
}

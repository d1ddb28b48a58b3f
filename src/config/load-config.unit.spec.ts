import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../kernel/errors.ts';
import { configProblems, loadConfig } from './load-config.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(ERROR_CODES.CONFIG_INVALID);
    return configProblems(error as AppError);
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('applies the defaults of DESIGN.md §6 to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      port: 3000,
      host: '127.0.0.1',
      dataDir: path.resolve('./data'),
      store: { kind: 'sqlite', file: path.resolve('./data/orderflow.db') },
      bus: { kind: 'embedded' },
      adminKey: undefined,
      carrierDelayMs: 5000,
      carrierFailureRate: 0,
      notifications: { smtpUrl: undefined, vendorWebhookUrl: undefined, webhookTimeoutMs: 5000 },
      namespace: 'orderflow',
      partitions: 16,
      postgresPoolSize: 10,
      sqliteSynchronous: 'FULL',
      logLevel: 'info',
      fraud: { threshold: 70, amountReview: 200_000, velocityWindowMs: 600_000, velocityLimit: 5 },
      paymentGateway: { latencyMs: 0, failureRate: 0, timeoutMs: 2000 },
      saga: { reservationTtlMs: 900_000, stepTimeoutMs: 30_000, paymentMaxAttempts: 3 },
      operations: {
        alertRulesFile: undefined,
        alertEvalIntervalMs: 5000,
        incidentQuietMs: 300_000,
        incidentWebhookUrl: undefined,
        priceTableFile: undefined,
        slo: {
          placedToConfirmedMs: 60_000,
          confirmedToShippedMs: 86_400_000,
          placedToDeliveredMs: 432_000_000,
        },
      },
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      ORDERFLOW_PORT: '0',
      ORDERFLOW_HOST: '0.0.0.0',
      ORDERFLOW_DATA_DIR: '/tmp/of-data',
      ORDERFLOW_STORE: 'sqlite:/tmp/elsewhere.db',
      ORDERFLOW_BUS: 'embedded',
      ORDERFLOW_ADMIN_KEY: 'a-long-enough-admin-key',
      ORDERFLOW_CARRIER_DELAY_MS: '0',
      ORDERFLOW_CARRIER_FAILURE_RATE: '0.1',
      ORDERFLOW_SMTP_URL: 'smtp://127.0.0.1:2525',
      ORDERFLOW_VENDOR_WEBHOOK_URL: 'https://hooks.example.com/orderflow',
      ORDERFLOW_WEBHOOK_TIMEOUT_MS: '1500',
      ORDERFLOW_NAMESPACE: 'shop_eu2',
      ORDERFLOW_PARTITIONS: '4',
      ORDERFLOW_POSTGRES_POOL_SIZE: '3',
      ORDERFLOW_SQLITE_SYNCHRONOUS: 'normal',
      ORDERFLOW_LOG_LEVEL: 'WARN',
      ORDERFLOW_FRAUD_THRESHOLD: '60',
      ORDERFLOW_FRAUD_AMOUNT_REVIEW: '150000',
      ORDERFLOW_FRAUD_VELOCITY_WINDOW_MS: '60000',
      ORDERFLOW_FRAUD_VELOCITY_LIMIT: '3',
      ORDERFLOW_GATEWAY_LATENCY_MS: '25',
      ORDERFLOW_GATEWAY_FAILURE_RATE: '0.05',
      ORDERFLOW_GATEWAY_TIMEOUT_MS: '500',
      ORDERFLOW_RESERVATION_TTL_MS: '60000',
      ORDERFLOW_SAGA_STEP_TIMEOUT_MS: '2500',
      ORDERFLOW_PAYMENT_MAX_ATTEMPTS: '5',
      ORDERFLOW_ALERT_RULES: '/etc/orderflow/rules.yaml',
      ORDERFLOW_ALERT_EVAL_INTERVAL_MS: '1000',
      ORDERFLOW_INCIDENT_QUIET_MS: '60000',
      ORDERFLOW_INCIDENT_WEBHOOK_URL: 'https://events.example.com/v2/enqueue',
      ORDERFLOW_PRICE_TABLE: '/etc/orderflow/prices.json',
      ORDERFLOW_SLO_PLACED_TO_CONFIRMED_MS: '30000',
      ORDERFLOW_SLO_CONFIRMED_TO_SHIPPED_MS: '3600000',
      ORDERFLOW_SLO_PLACED_TO_DELIVERED_MS: '86400000',
    });
    expect(config).toEqual({
      port: 0,
      host: '0.0.0.0',
      dataDir: '/tmp/of-data',
      store: { kind: 'sqlite', file: '/tmp/elsewhere.db' },
      bus: { kind: 'embedded' },
      adminKey: 'a-long-enough-admin-key',
      carrierDelayMs: 0,
      carrierFailureRate: 0.1,
      notifications: {
        smtpUrl: 'smtp://127.0.0.1:2525',
        vendorWebhookUrl: 'https://hooks.example.com/orderflow',
        webhookTimeoutMs: 1500,
      },
      namespace: 'shop_eu2',
      partitions: 4,
      postgresPoolSize: 3,
      sqliteSynchronous: 'NORMAL',
      logLevel: 'warn',
      fraud: { threshold: 60, amountReview: 150_000, velocityWindowMs: 60_000, velocityLimit: 3 },
      paymentGateway: { latencyMs: 25, failureRate: 0.05, timeoutMs: 500 },
      saga: { reservationTtlMs: 60_000, stepTimeoutMs: 2500, paymentMaxAttempts: 5 },
      operations: {
        alertRulesFile: '/etc/orderflow/rules.yaml',
        alertEvalIntervalMs: 1000,
        incidentQuietMs: 60_000,
        incidentWebhookUrl: 'https://events.example.com/v2/enqueue',
        priceTableFile: '/etc/orderflow/prices.json',
        slo: {
          placedToConfirmedMs: 30_000,
          confirmedToShippedMs: 3_600_000,
          placedToDeliveredMs: 86_400_000,
        },
      },
    });
  });

  it('puts the embedded store in the data dir', () => {
    expect(loadConfig({ ORDERFLOW_DATA_DIR: '/srv/of' }).store).toEqual({
      kind: 'sqlite',
      file: '/srv/of/orderflow.db',
    });
    expect(loadConfig({ ORDERFLOW_DATA_DIR: '/srv/of', ORDERFLOW_STORE: 'embedded' }).store).toEqual({
      kind: 'sqlite',
      file: '/srv/of/orderflow.db',
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ ORDERFLOW_PORT: '', ORDERFLOW_ADMIN_KEY: ' ' })).toMatchObject({
      port: 3000,
      adminKey: undefined,
    });
  });

  it('returns a deeply frozen config', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.store)).toBe(true);
    expect(Object.isFrozen(config.bus)).toBe(true);
    expect(Object.isFrozen(config.fraud)).toBe(true);
    expect(Object.isFrozen(config.paymentGateway)).toBe(true);
    expect(Object.isFrozen(config.saga)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    ['ORDERFLOW_PORT', 'abc'],
    ['ORDERFLOW_PORT', '65536'],
    ['ORDERFLOW_PORT', '-1'],
    ['ORDERFLOW_PORT', '80.5'],
    ['ORDERFLOW_HOST', 'not a host!'],
    ['ORDERFLOW_STORE', 'mysql://db'],
    ['ORDERFLOW_STORE', 'sqlite:'],
    ['ORDERFLOW_BUS', 'kafka://broker'],
    ['ORDERFLOW_ADMIN_KEY', 'short'],
    ['ORDERFLOW_ADMIN_KEY', 'has spaces in the middle of it'],
    ['ORDERFLOW_CARRIER_DELAY_MS', 'soon'],
    ['ORDERFLOW_CARRIER_DELAY_MS', '-5'],
    ['ORDERFLOW_NAMESPACE', 'Orderflow'],
    ['ORDERFLOW_NAMESPACE', '1shop'],
    ['ORDERFLOW_NAMESPACE', 'shop-eu'],
    ['ORDERFLOW_PARTITIONS', '0'],
    ['ORDERFLOW_PARTITIONS', 'many'],
    ['ORDERFLOW_POSTGRES_POOL_SIZE', '0'],
    ['ORDERFLOW_SQLITE_SYNCHRONOUS', 'OFF'],
    ['ORDERFLOW_LOG_LEVEL', 'loud'],
    ['ORDERFLOW_RESERVATION_TTL_MS', '0'],
    ['ORDERFLOW_RESERVATION_TTL_MS', 'forever'],
    ['ORDERFLOW_SAGA_STEP_TIMEOUT_MS', '0'],
    ['ORDERFLOW_SAGA_STEP_TIMEOUT_MS', '1.5'],
    ['ORDERFLOW_PAYMENT_MAX_ATTEMPTS', '0'],
    ['ORDERFLOW_PAYMENT_MAX_ATTEMPTS', '11'],
    ['ORDERFLOW_CARRIER_FAILURE_RATE', '2'],
    ['ORDERFLOW_CARRIER_FAILURE_RATE', 'often'],
    ['ORDERFLOW_SMTP_URL', 'http://mail.example.com'],
    ['ORDERFLOW_SMTP_URL', 'not a url'],
    ['ORDERFLOW_VENDOR_WEBHOOK_URL', 'ftp://hooks.example.com'],
    ['ORDERFLOW_VENDOR_WEBHOOK_URL', '/relative/path'],
    ['ORDERFLOW_WEBHOOK_TIMEOUT_MS', '0'],
    ['ORDERFLOW_WEBHOOK_TIMEOUT_MS', 'slow'],
    ['ORDERFLOW_FRAUD_THRESHOLD', '0'],
    ['ORDERFLOW_FRAUD_THRESHOLD', 'high'],
    ['ORDERFLOW_FRAUD_AMOUNT_REVIEW', '2000.00'],
    ['ORDERFLOW_FRAUD_VELOCITY_WINDOW_MS', '0'],
    ['ORDERFLOW_FRAUD_VELOCITY_LIMIT', '-1'],
    ['ORDERFLOW_GATEWAY_LATENCY_MS', '-10'],
    ['ORDERFLOW_GATEWAY_LATENCY_MS', '2000'],
    ['ORDERFLOW_GATEWAY_FAILURE_RATE', '1.5'],
    ['ORDERFLOW_GATEWAY_FAILURE_RATE', '5%'],
    ['ORDERFLOW_GATEWAY_FAILURE_RATE', '-0.1'],
    ['ORDERFLOW_GATEWAY_TIMEOUT_MS', '0'],
  ])('refuses %s=%s, naming the variable, what it must be and what it got', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name} must be .+ \\(got .+\\)$`));
    if (name !== 'ORDERFLOW_ADMIN_KEY') expect(problems[0]).toContain(`(got ${JSON.stringify(value)})`);
  });

  it('throws an InvalidOptionsError listing the problems', () => {
    let caught: unknown;
    try {
      loadConfig({ ORDERFLOW_PORT: 'eighty' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionsError);
    expect((caught as InvalidOptionsError).problems).toEqual([
      'ORDERFLOW_PORT must be an integer from 0 to 65535 (got "eighty")',
    ]);
    expect((caught as InvalidOptionsError).message).toBe(
      'invalid configuration:\n  - ORDERFLOW_PORT must be an integer from 0 to 65535 (got "eighty")',
    );
  });

  it('hides the password of a refused store URL', () => {
    expect(problemsOf({ ORDERFLOW_STORE: 'mysql://orderflow:secret@db/orderflow' })).toEqual([
      'ORDERFLOW_STORE must be embedded (or sqlite), sqlite:<file> or a postgres://… URL (got "mysql://orderflow:***@db/orderflow")',
    ]);
  });

  it('reads the gateway failure rate as a fraction from 0 to 1', () => {
    expect(loadConfig({ ORDERFLOW_GATEWAY_FAILURE_RATE: '1' }).paymentGateway.failureRate).toBe(1);
    expect(loadConfig({ ORDERFLOW_GATEWAY_FAILURE_RATE: '0.25' }).paymentGateway.failureRate).toBe(0.25);
    expect(loadConfig({ ORDERFLOW_GATEWAY_FAILURE_RATE: '.5' }).paymentGateway.failureRate).toBe(0.5);
  });

  it('refuses a gateway latency that is not below the gateway timeout, naming both', () => {
    const problems = problemsOf({ ORDERFLOW_GATEWAY_LATENCY_MS: '300', ORDERFLOW_GATEWAY_TIMEOUT_MS: '300' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('ORDERFLOW_GATEWAY_LATENCY_MS');
    expect(problems[0]).toContain('ORDERFLOW_GATEWAY_TIMEOUT_MS');
    expect(
      loadConfig({ ORDERFLOW_GATEWAY_LATENCY_MS: '299', ORDERFLOW_GATEWAY_TIMEOUT_MS: '300' }).paymentGateway,
    ).toEqual({ latencyMs: 299, failureRate: 0, timeoutMs: 300 });
  });

  it('reads the carrier failure rate as a fraction, and never echoes a refused SMTP URL (it may hold a password)', () => {
    expect(loadConfig({ ORDERFLOW_CARRIER_FAILURE_RATE: '1' }).carrierFailureRate).toBe(1);
    expect(loadConfig({ ORDERFLOW_CARRIER_FAILURE_RATE: '0.25' }).carrierFailureRate).toBe(0.25);
    expect(
      loadConfig({ ORDERFLOW_SMTP_URL: 'smtps://user:pw@mail.example.com:465' }).notifications.smtpUrl,
    ).toBe('smtps://user:pw@mail.example.com:465');
    const problems = problemsOf({ ORDERFLOW_SMTP_URL: 'imap://user:secret@mail.example.com' });
    expect(problems).toEqual([
      'ORDERFLOW_SMTP_URL must be an absolute smtp:// or smtps:// URL (got "imap://user:***@mail.example.com")',
    ]);
    expect(problemsOf({ ORDERFLOW_ADMIN_KEY: 'short secret' })).toEqual([
      'ORDERFLOW_ADMIN_KEY must be at least 16 characters without spaces, or unset to have one generated (got 12 characters, not shown)',
    ]);
  });

  it('accepts the distributed pair: a postgres:// store with a nats:// bus', () => {
    const config = loadConfig({
      ORDERFLOW_STORE: 'postgres://orderflow:secret@127.0.0.1:5432/orderflow',
      ORDERFLOW_BUS: 'nats://127.0.0.1:4222',
    });
    expect(config.store).toEqual({
      kind: 'postgres',
      url: 'postgres://orderflow:secret@127.0.0.1:5432/orderflow',
    });
    expect(config.bus).toEqual({ kind: 'nats', url: 'nats://127.0.0.1:4222' });
    expect(
      loadConfig({ ORDERFLOW_STORE: 'postgresql://127.0.0.1/x', ORDERFLOW_BUS: 'nats://h:1' }).store.kind,
    ).toBe('postgres');
  });

  it('refuses a mixed pair (PostgreSQL with the embedded bus, or NATS with SQLite), never echoing the password', () => {
    const mixed = problemsOf({ ORDERFLOW_STORE: 'postgres://orderflow:secret@127.0.0.1:5432/orderflow' });
    expect(mixed).toHaveLength(1);
    expect(mixed[0]).toMatch(
      /^ORDERFLOW_BUS must be a nats:\/\/ URL when ORDERFLOW_STORE is a postgres:\/\/ URL \(got embedded\)/,
    );
    expect(mixed.join('\n')).not.toContain('secret');
    const other = problemsOf({ ORDERFLOW_BUS: 'nats://127.0.0.1:4222' });
    expect(other).toHaveLength(1);
    expect(other[0]).toMatch(
      /^ORDERFLOW_STORE must be a postgres:\/\/ URL when ORDERFLOW_BUS is a nats:\/\/ URL \(got SQLite\)/,
    );
    expect(
      problemsOf({ ORDERFLOW_STORE: 'sqlite:/tmp/x.db', ORDERFLOW_BUS: 'nats://127.0.0.1:4222' }),
    ).toHaveLength(1);
  });

  it('reports every problem at once, each on its own line of the message', () => {
    let message = '';
    try {
      loadConfig({
        ORDERFLOW_PORT: 'x',
        ORDERFLOW_NAMESPACE: 'BAD',
        ORDERFLOW_LOG_LEVEL: 'loud',
        ORDERFLOW_PARTITIONS: '0',
      });
    } catch (error) {
      message = (error as Error).message;
    }
    const lines = message.split('\n');
    expect(lines[0]).toBe('invalid configuration:');
    expect(lines.slice(1)).toHaveLength(4);
    for (const name of [
      'ORDERFLOW_PORT',
      'ORDERFLOW_NAMESPACE',
      'ORDERFLOW_LOG_LEVEL',
      'ORDERFLOW_PARTITIONS',
    ]) {
      expect(lines.filter((line) => line.includes(name))).toHaveLength(1);
    }
  });

  it('reads process.env by default', () => {
    const before = process.env.ORDERFLOW_PARTITIONS;
    process.env.ORDERFLOW_PARTITIONS = '7';
    try {
      expect(loadConfig().partitions).toBe(7);
    } finally {
      if (before === undefined) delete process.env.ORDERFLOW_PARTITIONS;
      else process.env.ORDERFLOW_PARTITIONS = before;
    }
  });
});

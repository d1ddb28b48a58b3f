import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES } from '../shared/errors.ts';
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
      namespace: 'orderflow',
      partitions: 16,
      sqliteSynchronous: 'FULL',
      logLevel: 'info',
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
      ORDERFLOW_NAMESPACE: 'shop_eu2',
      ORDERFLOW_PARTITIONS: '4',
      ORDERFLOW_SQLITE_SYNCHRONOUS: 'normal',
      ORDERFLOW_LOG_LEVEL: 'WARN',
    });
    expect(config).toEqual({
      port: 0,
      host: '0.0.0.0',
      dataDir: '/tmp/of-data',
      store: { kind: 'sqlite', file: '/tmp/elsewhere.db' },
      bus: { kind: 'embedded' },
      adminKey: 'a-long-enough-admin-key',
      carrierDelayMs: 0,
      namespace: 'shop_eu2',
      partitions: 4,
      sqliteSynchronous: 'NORMAL',
      logLevel: 'warn',
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
    ['ORDERFLOW_SQLITE_SYNCHRONOUS', 'OFF'],
    ['ORDERFLOW_LOG_LEVEL', 'loud'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
  });

  it('accepts distributed URLs syntactically but reports that distributed mode is not available yet', () => {
    const problems = problemsOf({
      ORDERFLOW_STORE: 'postgres://orderflow:secret@127.0.0.1:5432/orderflow',
      ORDERFLOW_BUS: 'nats://127.0.0.1:4222',
    });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^ORDERFLOW_STORE=.*distributed mode is not available in this build yet/);
    expect(problems[1]).toMatch(/^ORDERFLOW_BUS=.*distributed mode is not available in this build yet/);
    // The password does not end up in logs or terminals.
    expect(problems.join('\n')).not.toContain('secret');
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

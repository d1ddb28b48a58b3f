import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import {
  acceptsValue,
  CONFIG_RULES,
  CONFIG_SCHEMA,
  configVariables,
  defaultTextOf,
  expectedOf,
  hidePassword,
} from './config-schema.ts';
import { loadConfig } from './load-config.ts';

describe('CONFIG_SCHEMA', () => {
  const variables = configVariables();

  it('names each variable once, with the ORDERFLOW_ prefix, a meaning, what it accepts and a default', () => {
    const names = variables.map(({ schema }) => schema['x-env']);
    expect(new Set(names).size).toBe(names.length);
    for (const { schema } of variables) {
      expect(schema['x-env']).toMatch(/^ORDERFLOW_[A-Z0-9_]+$/);
      expect(schema.description.length, schema['x-env']).toBeGreaterThan(20);
      expect(expectedOf(schema).length, schema['x-env']).toBeGreaterThan(5);
      expect(defaultTextOf(schema).length, schema['x-env']).toBeGreaterThan(0);
    }
  });

  it('has defaults that its own checks accept', () => {
    for (const { schema } of variables) {
      if (schema.default !== undefined)
        expect(acceptsValue(schema, schema.default), schema['x-env']).toBe(true);
    }
  });

  it('describes what loadConfig returns, and its rules name variables of the schema', () => {
    expect(Value.Check(CONFIG_SCHEMA, loadConfig({}))).toBe(true);
    const names = new Set(variables.map(({ schema }) => schema['x-env']));
    for (const rule of CONFIG_RULES) for (const name of rule.variables) expect(names).toContain(name);
  });

  it('hides the password of a URL, and nothing else', () => {
    expect(hidePassword('postgres://orderflow:s3cr@t@db:5432/x')).toBe('postgres://orderflow:***@db:5432/x');
    expect(hidePassword('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
    expect(hidePassword('smtp://user@mail:25')).toBe('smtp://user@mail:25');
    expect(hidePassword('eighty')).toBe('eighty');
  });
});

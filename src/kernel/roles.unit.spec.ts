import { describe, expect, it } from 'vitest';
import { parseRoles, ROLES } from './roles.ts';

describe('parseRoles', () => {
  it('reads a comma-separated list, trimming and dropping duplicates', () => {
    expect(parseRoles('api, saga,api')).toEqual(['api', 'saga']);
  });

  it('knows every role of DESIGN.md §6', () => {
    expect(parseRoles(ROLES.join(','))).toEqual([
      'api',
      'saga',
      'inventory',
      'payments',
      'fulfillment',
      'notifications',
    ]);
  });

  it('names an unknown role and the valid ones', () => {
    expect(() => parseRoles('api,shipping')).toThrow(
      'unknown role "shipping" (expected one of: api, saga, inventory, payments, fulfillment, notifications)',
    );
  });

  it('refuses an empty list', () => {
    expect(() => parseRoles(' , ')).toThrow(/no roles given/);
  });
});

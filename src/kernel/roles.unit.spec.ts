import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from './errors.ts';
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
      'operations',
    ]);
  });

  it('names an unknown role and the valid ones, with an InvalidOptionsError', () => {
    expect(() => parseRoles('api,shipping')).toThrow(
      '--roles must be a comma-separated list of roles from: api, saga, inventory, payments, fulfillment, notifications, operations (got unknown role "shipping")',
    );
    expect(() => parseRoles('api,shipping')).toThrow(InvalidOptionsError);
  });

  it('refuses an empty list', () => {
    expect(() => parseRoles(' , ')).toThrow(/^--roles must be .+ \(got no role: " , "\)$/);
  });
});

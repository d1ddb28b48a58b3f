import { InvalidOptionsError } from './errors.ts';

/** What a process runs (DESIGN.md §6): `orderflow start --roles api,saga,…`; default all. */
export const ROLES = [
  'api',
  'saga',
  'inventory',
  'payments',
  'fulfillment',
  'notifications',
  'operations',
] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * Parses `--roles api,saga`. Throws an InvalidOptionsError naming the first unknown role and the
 * valid ones; duplicates are dropped, and an empty list is refused too.
 */
export function parseRoles(text: string): Role[] {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const expected = `a comma-separated list of roles from: ${ROLES.join(', ')}`;
  if (names.length === 0) {
    throw InvalidOptionsError.format('--roles', `must be ${expected} (got no role: ${JSON.stringify(text)})`);
  }
  for (const name of names) {
    if (!isRole(name)) {
      throw InvalidOptionsError.format(
        '--roles',
        `must be ${expected} (got unknown role ${JSON.stringify(name)})`,
      );
    }
  }
  return [...new Set(names as Role[])];
}

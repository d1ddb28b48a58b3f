/** What a process runs (DESIGN.md §6): `orderflow start --roles api,saga,…`; default all. */
export const ROLES = ['api', 'saga', 'inventory', 'payments', 'fulfillment', 'notifications'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * Parses `--roles api,saga`. Throws an Error naming the first unknown role and the valid ones;
 * duplicates are dropped, and an empty list is an error too.
 */
export function parseRoles(text: string): Role[] {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new Error(`no roles given (expected one or more of: ${ROLES.join(', ')})`);
  for (const name of names) {
    if (!isRole(name)) throw new Error(`unknown role "${name}" (expected one of: ${ROLES.join(', ')})`);
  }
  return [...new Set(names as Role[])];
}

/**
 * Payment test tokens (DESIGN.md §4), like a provider's test cards. A suffix after a dot names a
 * distinct card with the same behaviour (`tok_visa.4242`, `tok_visa.cust-17`): the family decides
 * the behaviour, the full token is the card (velocity rules count per full token).
 */
export const TEST_TOKEN_FAMILIES = ['tok_visa', 'tok_declined', 'tok_risky', 'tok_timeout'] as const;
export type TestTokenFamily = (typeof TEST_TOKEN_FAMILIES)[number];

/** The part before the first dot: `tok_visa.4242` → `tok_visa`. */
export function tokenFamily(token: string): string {
  const dot = token.indexOf('.');
  return dot === -1 ? token : token.slice(0, dot);
}

export function isRiskyToken(token: string): boolean {
  return tokenFamily(token) === 'tok_risky';
}

/**
 * Money is kept as integer minor units (cents) everywhere inside Orderflow; the HTTP API shows
 * decimal major units (19.99). ISO 4217 exponents: most currencies have 2 decimals.
 */
const ZERO_DECIMAL_CURRENCIES = new Set(['JPY', 'KRW', 'VND', 'CLP', 'ISK', 'UGX', 'XAF', 'XOF', 'PYG']);
const THREE_DECIMAL_CURRENCIES = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);

export function currencyExponent(currency: string): number {
  if (ZERO_DECIMAL_CURRENCIES.has(currency)) return 0;
  if (THREE_DECIMAL_CURRENCIES.has(currency)) return 3;
  return 2;
}

/** 1999 USD cents → 19.99. */
export function toMajorUnits(minor: number, currency: string): number {
  const exponent = currencyExponent(currency);
  // Dividing an integer by a power of ten gives the shortest decimal JSON can print (19.99, not 19.990000000000002).
  return exponent === 0 ? minor : minor / 10 ** exponent;
}

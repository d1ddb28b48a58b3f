import type { Region } from '../../../kernel/region.ts';

/**
 * Where common shipping countries (ISO 3166-1 alpha-2) lie in the marketplace's regions. Compact on
 * purpose: the fraud rules treat a country missing here as a (weak) mismatch, never as an error.
 */
// prettier-ignore
const COUNTRIES: Readonly<Record<Region, readonly string[]>> = {
  NA: ['US', 'CA', 'MX', 'PR'],
  EU: [
    'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT',
    'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE', 'GB', 'NO', 'CH', 'IS', 'LI', 'MC',
  ],
  APAC: [
    'AU', 'NZ', 'JP', 'KR', 'CN', 'HK', 'TW', 'SG', 'MY', 'TH', 'VN', 'PH', 'ID', 'IN', 'BD', 'LK',
  ],
};

const REGION_OF = new Map<string, Region>(
  (Object.entries(COUNTRIES) as [Region, readonly string[]][]).flatMap(([region, codes]) =>
    codes.map((code) => [code, region] as const),
  ),
);

/** The region a country belongs to, or undefined when the table does not know it. */
export function regionOfCountry(country: string): Region | undefined {
  return REGION_OF.get(country);
}

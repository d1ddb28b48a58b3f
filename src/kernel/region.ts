/** The marketplace's regions (DESIGN.md: data residency per region, fulfillment prefers the order's region). */
export const REGIONS = ['NA', 'EU', 'APAC'] as const;
export type Region = (typeof REGIONS)[number];

import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { InvalidOptionsError } from '../../kernel/errors.ts';
import { REGIONS, type Region } from '../../kernel/region.ts';

/** What a deployment pays in one region. */
export interface RegionPrice {
  /** Price of one vCPU for one hour. */
  readonly coreHour: number;
  /** Price of one GB of storage for one month (30 days). */
  readonly storageGbMonth: number;
  /** ISO 4217 code the prices are in. */
  readonly currency: string;
}

export type PriceTable = Readonly<Record<Region, RegionPrice>>;

/**
 * Public-cloud on-demand list prices (USD, about 2024): a general-purpose vCPU-hour (AWS m6i.large,
 * Linux, divided by its 2 vCPUs) and a GB-month of block storage (EBS gp3) in us-east-1 (NA),
 * eu-west-1 (EU) and ap-southeast-1 (APAC).
 */
export const DEFAULT_PRICE_TABLE: PriceTable = Object.freeze({
  NA: Object.freeze({ coreHour: 0.048, storageGbMonth: 0.08, currency: 'USD' }),
  EU: Object.freeze({ coreHour: 0.0535, storageGbMonth: 0.088, currency: 'USD' }),
  APAC: Object.freeze({ coreHour: 0.06, storageGbMonth: 0.096, currency: 'USD' }),
});

const SUBJECT = 'ORDERFLOW_PRICE_TABLE';
const FIELDS = ['coreHour', 'storageGbMonth', 'currency'];

/**
 * The price table: the built-in one, with the regions of `file` (YAML or JSON, a mapping of region
 * to `{ coreHour, storageGbMonth, currency }`) replacing the built-in ones. A file that cannot be read
 * or has wrong entries is refused with every problem listed (InvalidOptionsError, ORDERFLOW_PRICE_TABLE).
 */
export async function loadPriceTable(options: { file?: string | undefined } = {}): Promise<PriceTable> {
  if (options.file === undefined) return DEFAULT_PRICE_TABLE;
  let text: string;
  try {
    text = await readFile(options.file, 'utf8');
  } catch (error) {
    throw new InvalidOptionsError([`${options.file} cannot be read (${(error as Error).message})`], {
      subject: SUBJECT,
    });
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new InvalidOptionsError([`${options.file} is not YAML or JSON (${(error as Error).message})`], {
      subject: SUBJECT,
    });
  }
  return parsePriceTable(document);
}

/** Validates a parsed price table document and lays it over the built-in table. */
export function parsePriceTable(document: unknown): PriceTable {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new InvalidOptionsError(
      [
        `the price table must be a mapping of region (${REGIONS.join(', ')}) to prices (got ${describe(document)})`,
      ],
      { subject: SUBJECT },
    );
  }
  const problems: string[] = [];
  const table: Record<string, RegionPrice> = { ...DEFAULT_PRICE_TABLE };
  for (const [region, value] of Object.entries(document)) {
    if (!(REGIONS as readonly string[]).includes(region)) {
      problems.push(`${region} is not a region (expected one of ${REGIONS.join(', ')})`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${region} must be a mapping of ${FIELDS.join(', ')} (got ${describe(value)})`);
      continue;
    }
    const entry = value as Record<string, unknown>;
    const before = problems.length;
    for (const field of ['coreHour', 'storageGbMonth']) {
      const price = entry[field];
      if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
        problems.push(`${region}.${field} must be a number >= 0 (got ${describe(price)})`);
      }
    }
    if (typeof entry.currency !== 'string' || !/^[A-Z]{3}$/.test(entry.currency)) {
      problems.push(
        `${region}.currency must be an ISO 4217 code, e.g. USD (got ${describe(entry.currency)})`,
      );
    }
    for (const field of Object.keys(entry).filter((key) => !FIELDS.includes(key))) {
      problems.push(`${region}.${field} is not a price table field (expected ${FIELDS.join(', ')})`);
    }
    if (problems.length === before) {
      table[region] = Object.freeze({
        coreHour: entry.coreHour as number,
        storageGbMonth: entry.storageGbMonth as number,
        currency: entry.currency as string,
      });
    }
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems, { subject: SUBJECT });
  return Object.freeze(table);
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

import { readFileSync } from 'node:fs';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../../kernel/errors.ts';

/**
 * The PostgreSQL schema of the event store and its SQL, kept in `sql/*.sql` (one file per
 * operation, bullmq `src/postgres/commands/*.sql` style) and filled in with the schema's names here.
 *
 * - `sql/schema.sql`: the tables, applied by every start (idempotent);
 * - `sql/commit-units-v1.sql`: the commit function, (re)created by every start;
 * - `sql/release-due-messages.sql`: moves due timers into the outbox.
 */

/** Schema names are restricted to lower-case identifiers so that channel and table names need no escaping games. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/** The options check of every PostgreSQL component's `schema`: throws InvalidOptionsError unless it matches SCHEMA_NAME. */
export function checkSchemaName(schema: string, component: string): void {
  if (!SCHEMA_NAME.test(schema)) {
    throw InvalidOptionsError.format(
      'schema',
      `must match ${String(SCHEMA_NAME)} (got ${JSON.stringify(schema)}; ${component})`,
    );
  }
}

/** Name of the server-side commit function (in the store's schema; `sql/commit-units-v1.sql`). */
export const COMMIT_FUNCTION = 'commit_units_v1';

/** The one row the commit function returns for a group, as node-postgres reads it (bigint as text). */
export interface CommitUnitsRow {
  /** Per unit. */
  outcomes: ('ok' | 'duplicate' | 'conflict')[];
  /** Per unit: for a conflict, the (0-based) index of the append that conflicted. */
  conflict_appends: (number | null)[];
  /** Per unit: for a conflict, the stream's actual version. */
  conflict_actuals: (string | null)[];
  /** Per append of the group, in order. */
  next_versions: string[];
  last_positions: string[];
  written: boolean[];
  /** The ids of the events written, in position order; null when none. */
  written_ids: string[] | null;
}

/**
 * SQLSTATE raised by the commit function when an inbox mark it was about to write was recorded by a
 * concurrent transaction in the meantime: the whole call is rolled back.
 */
export const DUPLICATE_INBOX_SQLSTATE = 'OF001';

/** The migration: every table (`sql/schema.sql`), then the commit function (`sql/commit-units-v1.sql`). */
export function schemaSql(schema: string): string {
  return `${sqlFile('schema', schemaNames(schema))}\n${commitFunctionSql(schema)}`;
}

/**
 * `CREATE OR REPLACE FUNCTION <schema>.commit_units_v1(jsonb)`: a group of units of work in one call
 * and one transaction. What it does, step by step, is documented in the file.
 */
export function commitFunctionSql(schema: string): string {
  return sqlFile('commit-units-v1', {
    ...schemaNames(schema),
    streams_lock: literal(`${schema}:streams`),
    sequencer_lock: literal(`${schema}:sequencer`),
    events_channel: literal(`${schema}_events`),
    scheduled_channel: literal(`${schema}_scheduled`),
    duplicate_inbox_sqlstate: literal(DUPLICATE_INBOX_SQLSTATE),
  });
}

/** The statement that releases due timers (`$1` now in epoch ms, `$2` the limit). */
export function releaseDueMessagesSql(schema: string): string {
  return sqlFile('release-due-messages', schemaNames(schema));
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for SQL text (schema names are already restricted to SCHEMA_NAME). */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function schemaNames(schema: string): Record<string, string> {
  return { schema: quoteIdentifier(schema), schema_literal: literal(schema) };
}

const files = new Map<string, string>();

/**
 * The text of `sql/<name>.sql` (read once) with its `{{placeholder}}`s filled in. Every placeholder
 * of the file must be given a value: a missing one is a programming error, caught by the first start.
 */
function sqlFile(name: string, values: Readonly<Record<string, string>>): string {
  let text = files.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./sql/${name}.sql`, import.meta.url), 'utf8');
    files.set(name, text);
  }
  return text.replace(/\{\{([a-z_]+)\}\}/g, (placeholder, key: string) => {
    const value = values[key];
    if (value === undefined) {
      throw new AppError(ERROR_CODES.INTERNAL, `sql/${name}.sql: no value for ${placeholder}`);
    }
    return value;
  });
}

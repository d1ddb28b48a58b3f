import type { CatchUpSource } from '../../event-store/catch-up-subscription.ts';
import type { CommitResult, UnitOfWork } from '../../event-store/event-store.ts';
import type { PostgresQuery, PostgresReads } from './postgres-reads.ts';
import { quoteIdentifier } from './postgres-schema.ts';

export interface PostgresCatchUpSourceOptions {
  subscriptionId: string;
  types: readonly string[] | undefined;
  reads: PostgresReads;
  checkpoints: PostgresCheckpoints;
  commit: (unit: UnitOfWork) => Promise<CommitResult>;
  /** Runs the subscription's store calls (they count as in flight, and may finish while closing). */
  run: <T>(work: () => Promise<T>) => Promise<T>;
  /** The safety poll (PostgresEventStoreOptions.pollIntervalMs). */
  pollIntervalMs: number;
}

/**
 * What the catch-up loop (event-store/catch-up-subscription.ts) needs from PostgreSQL. It reads up
 * to the safe head only, so a late-committing transaction is waited for, never skipped: while the
 * visible head is above the safe head the loop looks again within milliseconds (a rollback sends no
 * notification). It is woken by local commits and NOTIFY, and polls every `pollIntervalMs` in case a
 * notification was lost (the listener reconnecting).
 */
export function createPostgresCatchUpSource(options: PostgresCatchUpSourceOptions): CatchUpSource {
  const { subscriptionId, types, reads, checkpoints, commit, run } = options;
  return {
    readCheckpoint: () => run(() => checkpoints.read(subscriptionId)),
    head: () =>
      run(async () => {
        const { safe, visible } = await reads.heads();
        return { readable: safe, visible };
      }),
    readBatch: (after, upTo, limit) => run(() => reads.readRange(after, upTo, types, limit)),
    commit: (unit) => run(() => commit(unit)),
    pollIntervalMs: options.pollIntervalMs,
  };
}

/** Subscription checkpoints (written by the commit function with the unit they belong to). */
export interface PostgresCheckpoints {
  /** The last position the subscription handled, or -1. */
  read(subscriptionId: string): Promise<number>;
}

export function createPostgresCheckpoints(query: PostgresQuery, schema: string): PostgresCheckpoints {
  const s = quoteIdentifier(schema);
  return {
    async read(subscriptionId) {
      const rows = await query<{ position: string }>(
        `SELECT position FROM ${s}.checkpoints WHERE subscription_id = $1`,
        [subscriptionId],
      );
      return rows[0] === undefined ? -1 : Number(rows[0].position);
    },
  };
}

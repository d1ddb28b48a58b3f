import pg from 'pg';
import type { LeaderLease } from '../../messaging/leader-lease.ts';

export interface PostgresLeaderLeaseOptions {
  url: string;
  /** Names the lease: one holder per name and database, e.g. `<schema>:operations`. */
  name: string;
  onError?: (error: Error) => void;
}

/**
 * A leader lease on a PostgreSQL session advisory lock (`pg_try_advisory_lock(hashtext(name), 1)`)
 * held by one dedicated connection. The server drops the lock with the session, so a holder that is
 * SIGKILLed or loses its connection frees it at once, and the next `hold()` of another copy takes it.
 * While held, `hold()` checks the session is alive (a round trip), so a holder cut off from the
 * database stops acting on its next tick.
 */
export function createPostgresLeaderLease(options: PostgresLeaderLeaseOptions): LeaderLease {
  let client: pg.Client | undefined;
  let held = false;

  async function drop(): Promise<void> {
    const c = client;
    client = undefined;
    held = false;
    await c?.end().catch(() => undefined);
  }

  return {
    async hold() {
      try {
        if (client === undefined) {
          const c = new pg.Client({
            connectionString: options.url,
            application_name: `orderflow lease ${options.name}`,
          });
          // A dropped connection surfaces here; the next hold() notices and starts again.
          c.on('error', () => {
            if (client === c) {
              client = undefined;
              held = false;
            }
          });
          await c.connect();
          client = c;
        }
        if (held) {
          await client.query('SELECT 1');
          return true;
        }
        const result = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock(hashtext($1), 1) AS ok',
          [options.name],
        );
        held = result.rows[0]?.ok === true;
        return held;
      } catch (error) {
        options.onError?.(error instanceof Error ? error : new Error(String(error)));
        await drop();
        return false;
      }
    },
    release: drop,
  };
}

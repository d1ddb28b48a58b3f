import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { serviceAvailable, SERVICE_URLS } from '../../../test/support/services.ts';
import type { LeaderLease } from '../../messaging/leader-lease.ts';
import { createPostgresLeaderLease } from './postgres-leader-lease.ts';

describe.runIf(await serviceAvailable('postgres'))('PostgreSQL leader lease', () => {
  const leases: LeaderLease[] = [];
  const lease = (name: string): LeaderLease => {
    const created = createPostgresLeaderLease({ url: SERVICE_URLS.postgres, name });
    leases.push(created);
    return created;
  };
  afterEach(async () => {
    await Promise.all(leases.splice(0).map((l) => l.release()));
  });

  it('has one holder at a time; the other copy takes over when the holder lets go', async () => {
    const name = `test:${randomUUID()}`;
    const first = lease(name);
    const second = lease(name);
    expect(await first.hold()).toBe(true);
    expect(await second.hold()).toBe(false);
    expect(await first.hold()).toBe(true);
    await first.release();
    expect(await second.hold()).toBe(true);
    expect(await first.hold()).toBe(false);
  });

  it('is freed by the server when the holder session dies, and noticed by the holder', async () => {
    const name = `test:${randomUUID()}`;
    const holder = lease(name);
    const standby = lease(name);
    expect(await holder.hold()).toBe(true);
    // What a SIGKILL does to the session: the server ends it.
    const pg = await import('pg');
    const admin = new pg.default.Client({ connectionString: SERVICE_URLS.postgres });
    await admin.connect();
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
        [`orderflow lease ${name}`],
      );
    } finally {
      await admin.end();
    }
    await expect.poll(() => standby.hold(), { timeout: 5000 }).toBe(true);
    expect(await holder.hold()).toBe(false);
  });

  it('keeps different names apart', async () => {
    expect(await lease(`test:${randomUUID()}`).hold()).toBe(true);
    expect(await lease(`test:${randomUUID()}`).hold()).toBe(true);
  });
});

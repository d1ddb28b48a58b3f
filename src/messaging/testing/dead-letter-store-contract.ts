import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterStore, NewDeadLetter } from '../dead-letter/dead-letter-store.ts';
import { createEnvelope, type Envelope } from '../../kernel/envelope.ts';

/**
 * The DeadLetterStore port's contract, run against every adapter (the cases of the SQLite store's
 * spec, adapter-neutral). `open` creates an empty store; `reopen` opens the same data again after
 * `close` (durability); `cleanup` removes the data.
 */
export interface DeadLetterStoreHarness {
  open(): Promise<DeadLetterStore>;
  close(): Promise<void>;
  reopen(): Promise<DeadLetterStore>;
  cleanup(): Promise<void>;
}

function message(n: number): Envelope {
  return createEnvelope(
    { type: 'inventory.ReserveStock', data: { n, sku: 'SKU-1' }, correlationId: `order-${n}` },
    { source: 'orderflow/test' },
  );
}

function entry(group: string, m: Envelope, attempts = 8): NewDeadLetter {
  return {
    group,
    message: m,
    attempts,
    error: {
      name: 'AppError',
      message: 'gateway down',
      code: 'INTERNAL',
      stack: 'AppError: gateway down\n    at x',
    },
  };
}

export function deadLetterStoreContract(name: string, harness: () => DeadLetterStoreHarness): void {
  describe(`${name}: dead-letter store contract`, () => {
    let h: DeadLetterStoreHarness;
    let store: DeadLetterStore;

    beforeEach(async () => {
      h = harness();
      store = await h.open();
    });

    afterEach(async () => {
      await h.close();
      await h.cleanup();
    });

    it('keeps the message, the group, the error and the attempt count, durably', async () => {
      const m = message(1);
      const added = await store.add(entry('inventory', m, 5));
      expect(added).toMatchObject({
        group: 'inventory',
        attempts: 5,
        status: 'parked',
        message: m,
        error: {
          name: 'AppError',
          message: 'gateway down',
          code: 'INTERNAL',
          stack: 'AppError: gateway down\n    at x',
        },
      });
      expect(added.id).toEqual(expect.any(String));
      expect(Number.isNaN(Date.parse(added.deadLetteredAt))).toBe(false);
      expect(added.redrivenAt).toBeUndefined();

      await h.close();
      store = await h.reopen();
      expect(await store.get(added.id)).toEqual(added);
    });

    it('adds idempotently per group and message while parked', async () => {
      const m = message(2);
      const [first, second] = await Promise.all([
        store.add(entry('inventory', m)),
        store.add(entry('inventory', m)),
      ]);
      const third = await store.add(entry('inventory', m, 9));
      expect(second.id).toBe(first.id);
      expect(third.id).toBe(first.id);
      const other = await store.add(entry('payments', m));
      expect(other.id).not.toBe(first.id);
      expect(await store.count()).toBe(2);
    });

    it('parks a message again after it was re-driven, keeping the history', async () => {
      const m = message(3);
      const first = await store.add(entry('inventory', m));
      const redriven = await store.markRedriven(first.id);
      expect(redriven.status).toBe('redriven');
      expect(Number.isNaN(Date.parse(redriven.redrivenAt!))).toBe(false);
      const again = await store.add(entry('inventory', m));
      expect(again.id).not.toBe(first.id);
      expect(await store.count('parked')).toBe(1);
      expect(await store.count('redriven')).toBe(1);
      expect((await store.get(first.id))!.status).toBe('redriven');
    });

    it('refuses to re-drive an unknown or already re-driven entry', async () => {
      const first = await store.add(entry('inventory', message(4)));
      await store.markRedriven(first.id);
      await expect(store.markRedriven(first.id)).rejects.toMatchObject({
        code: 'DEAD_LETTER_ALREADY_REDRIVEN',
        category: 'conflict',
      });
      await expect(store.markRedriven('missing')).rejects.toMatchObject({
        code: 'DEAD_LETTER_NOT_FOUND',
        category: 'not_found',
      });
      expect(await store.get('missing')).toBeUndefined();
    });

    it('lists newest first, filtered by status and group, up to a limit', async () => {
      const entries = [];
      for (let n = 0; n < 5; n++)
        entries.push(await store.add(entry(n % 2 === 0 ? 'inventory' : 'payments', message(n))));
      await store.markRedriven(entries[0]!.id);

      expect((await store.list()).map((e) => e.id)).toEqual(entries.map((e) => e.id).reverse());
      expect((await store.list({ status: 'parked', group: 'inventory' })).map((e) => e.id)).toEqual([
        entries[4]!.id,
        entries[2]!.id,
      ]);
      expect((await store.list({ status: 'redriven' })).map((e) => e.id)).toEqual([entries[0]!.id]);
      expect(await store.list({ limit: 2 })).toHaveLength(2);
      expect(await store.count()).toBe(5);
      expect(await store.count('parked')).toBe(4);
    });
  });
}

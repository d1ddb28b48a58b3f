import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { KvWatchInclude, type KV } from '@nats-io/kv';
import { partitionOf } from '../../kernel/envelope.ts';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';

/**
 * Partition leases in a JetStream KV bucket: one owner at a time per (group, partition), so copies of
 * a group in several processes share its partitions and keep per-key order (docs/nats.md).
 *
 * The bucket's `max_age` is the lease TTL (server 2.9 has no per-key TTL): an entry nobody rewrites
 * ages out, so the leases and the membership of a process that died free themselves. Keys:
 * - `m.<group>.<owner>`: a live copy of the group, rewritten every tick (heartbeat);
 * - `l.<group>.p<k>`: the lease of partition k, value the owner, renewed every tick by a
 *   compare-and-set on its revision. Taking a free one is a create (fails if someone holds it).
 *
 * Each copy aims at its fair share, ceil(partitions / live copies): it hands over partitions above
 * it (drains them first, then deletes the lease) and takes free ones below it. A copy that cannot
 * renew a lease for most of the TTL stops pulling that partition before anybody else may take it.
 *
 * Rounds run every third of the TTL, and at once when the bucket shows a copy joining or leaving or
 * a lease handed back (a watch), so a new copy gets its share within moments, not a round later.
 */
export interface LeaseHolder {
  readonly group: string;
  /** Unique per subscription: `<host>-<pid>-<random>`. */
  readonly owner: string;
  /** The lease of `partition` is ours: start pulling it. */
  acquired(partition: number): Promise<void>;
  /**
   * Stop pulling `partition`. With `drain`, let the deliveries already handed out finish first (a
   * planned handover); without, hand them back at once (the lease is lost or about to be).
   */
  released(partition: number, drain: boolean): Promise<void>;
}

export interface PartitionLeasesOptions {
  kv: KV;
  partitions: number;
  /** The bucket's `max_age`. Renewals run every third of it. */
  ttlMs: number;
  onError: (error: Error) => void;
}

export interface PartitionLeases {
  /** Registers a copy and resolves after its first balancing round (it then holds its share, if free). */
  join(holder: LeaseHolder): Promise<void>;
  /** Gives up a copy's leases and membership at once, so the other copies take over without waiting for the TTL. */
  leave(holder: LeaseHolder): Promise<void>;
  /** Partitions each copy holds now, for metrics and tests. */
  owned(holder: LeaseHolder): number[];
  close(): Promise<void>;
}

interface Lease {
  revision: number;
  /** Local time of the last successful create or renewal. */
  renewedAt: number;
  /** Being handed over: still renewed until drained, then deleted. */
  releasing: boolean;
  /** The handover is deleting it: renewals stop. */
  deleting: boolean;
  renewal?: Promise<unknown>;
}

interface Copy {
  holder: LeaseHolder;
  leases: Map<number, Lease>;
  left: boolean;
  /** Rewritten by each heartbeat; changes after each hand-back, which tells the others to look. */
  memberValue: string;
  handBacks: number;
}

const memberPrefix = (group: string) => `m.${group}.`;
const memberKey = (holder: LeaseHolder) => `${memberPrefix(holder.group)}${holder.owner}`;
const leaseKey = (group: string, partition: number) => `l.${group}.p${partition}`;

/** The write lost a compare-and-set: somebody else wrote the key since (or it aged out). */
function lostRace(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export function createPartitionLeases(options: PartitionLeasesOptions): PartitionLeases {
  const { kv, partitions, ttlMs, onError } = options;
  const renewEveryMs = Math.max(50, Math.floor(ttlMs / 3));
  /** A lease not renewed for this long is given up: it leaves a third of the TTL before it can age out. */
  const fenceAfterMs = ttlMs - renewEveryMs;
  /** A request slower than a round is abandoned (and retried next round) rather than awaited. */
  const requestTimeoutMs = renewEveryMs;
  const copies = new Map<LeaseHolder, Copy>();
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  /** A change seen while a round ran: run another right after it. */
  let again = false;
  let watching: Promise<void> | undefined;
  let stopWatching: (() => void) | undefined;
  let closed = false;

  function report(what: string, error: unknown): void {
    onError(new Error(`partition leases: ${what}`, { cause: error }));
  }

  /** One balancing round for every copy; rounds never overlap. */
  function runRound(): Promise<void> {
    round ??= balanceAll().finally(() => {
      round = undefined;
      if (again && !closed) {
        again = false;
        void runRound();
      }
    });
    return round;
  }

  /** A copy joined or left, or a lease was handed back: balance now rather than at the next tick. */
  function changed(): void {
    if (closed) return;
    if (round !== undefined) again = true;
    else void runRound();
  }

  /**
   * Watches the member keys only (lease renewals would be a steady stream): a new member, a member
   * gone, or a member's value changing (it does after each hand-back) starts a round.
   */
  function watch(): Promise<void> {
    watching ??= (async () => {
      const members = new Map<string, string>();
      try {
        const updates = await kv.watch({ key: 'm.>', include: KvWatchInclude.UpdatesOnly });
        stopWatching = () => updates.stop();
        for await (const entry of updates) {
          if (entry.operation === 'PUT') {
            const value = entry.string();
            if (members.get(entry.key) === value) continue; // a heartbeat: no news
            members.set(entry.key, value);
          } else {
            members.delete(entry.key);
          }
          changed();
        }
      } catch (error) {
        if (!closed) report('watching the bucket', error);
      }
    })();
    return watching;
  }

  function schedule(): void {
    if (closed || copies.size === 0 || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void runRound().finally(schedule);
    }, renewEveryMs);
    timer.unref();
  }

  async function balanceAll(): Promise<void> {
    const active = [...copies.values()].filter((copy) => !copy.left);
    if (active.length === 0) return;
    // Renewals first and in parallel with the rest: a slow listing must not make a lease lapse.
    const renewals = active.flatMap((copy) =>
      [...copy.leases].map(([partition, lease]) => renew(copy, partition, lease)),
    );
    const heartbeats = active.map((copy) =>
      kv.put(memberKey(copy.holder), copy.memberValue, { timeout: requestTimeoutMs }).catch((error) => {
        report(`heartbeat of ${copy.holder.owner}`, error);
      }),
    );
    await Promise.all([...renewals, ...heartbeats]);
    // Listed after the heartbeats, so that a copy counts itself from its first round on.
    let keys: string[];
    try {
      keys = await listKeys();
    } catch (error) {
      report('listing the bucket', error);
      return;
    }
    await Promise.all(active.map((copy) => balance(copy, keys)));
  }

  /**
   * The live keys, each once: the client's `keys()` may name a key several times when it is
   * rewritten while the listing runs (seen: one member key 53 times, which made its group look 53
   * copies strong).
   */
  async function listKeys(): Promise<string[]> {
    const keys = new Set<string>();
    for await (const key of await kv.keys()) keys.add(key);
    return [...keys];
  }

  async function balance(copy: Copy, keys: string[]): Promise<void> {
    const { group, owner } = copy.holder;
    if (copy.left) return;

    const members = keys.filter((key) => key.startsWith(memberPrefix(group))).length;
    const fair = Math.ceil(partitions / Math.max(1, members));
    const kept = [...copy.leases].filter(([, lease]) => !lease.releasing).map(([partition]) => partition);
    // Above the fair share: hand over the highest partitions (they drain in the background).
    for (const partition of kept.sort((a, b) => b - a).slice(0, Math.max(0, kept.length - fair))) {
      void handOver(copy, partition, copy.leases.get(partition)!);
    }
    let holding = Math.min(kept.length, fair);
    if (holding >= fair) return;

    const taken = new Set(keys.filter((key) => key.startsWith(`l.${group}.p`)));
    // Copies start looking for free partitions at different places, so they rarely race for one.
    const offset = partitionOf(owner, partitions);
    for (let i = 0; i < partitions && holding < fair && !copy.left; i++) {
      const partition = (offset + i) % partitions;
      if (taken.has(leaseKey(group, partition)) || copy.leases.has(partition)) continue;
      let revision: number;
      try {
        revision = await kv.create(leaseKey(group, partition), owner);
      } catch (error) {
        if (!lostRace(error)) report(`taking ${leaseKey(group, partition)}`, error);
        continue;
      }
      copy.leases.set(partition, { revision, renewedAt: Date.now(), releasing: false, deleting: false });
      holding++;
      try {
        await copy.holder.acquired(partition);
      } catch (error) {
        // Could not start pulling it: give it back rather than sit on a partition nobody reads.
        report(`starting partition ${partition} of ${group}`, error);
        await dropLease(copy, partition);
      }
    }
  }

  async function renew(copy: Copy, partition: number, lease: Lease): Promise<void> {
    if (lease.deleting) return;
    const key = leaseKey(copy.holder.group, partition);
    const renewal = (async () => {
      try {
        return await kv.update(key, copy.holder.owner, lease.revision, requestTimeoutMs);
      } catch (error) {
        if (!lostRace(error)) throw error;
        // A renewal that timed out on our side may have been written all the same: the lease is
        // still ours at a newer revision. Anything else means it aged out and may be someone else's.
        const entry = await kv.get(key);
        if (entry === null || entry.operation !== 'PUT' || entry.string() !== copy.holder.owner) throw error;
        return kv.update(key, copy.holder.owner, entry.revision, requestTimeoutMs);
      }
    })();
    lease.renewal = renewal;
    try {
      lease.revision = await renewal;
      lease.renewedAt = Date.now();
    } catch (error) {
      if (lostRace(error)) {
        await lose(copy, partition, lease);
      } else if (Date.now() - lease.renewedAt > fenceAfterMs) {
        report(`renewing ${leaseKey(copy.holder.group, partition)}`, error);
        await lose(copy, partition, lease);
      }
    } finally {
      lease.renewal = undefined;
    }
  }

  async function lose(copy: Copy, partition: number, lease: Lease): Promise<void> {
    if (copy.leases.get(partition) !== lease) return;
    copy.leases.delete(partition);
    await copy.holder
      .released(partition, false)
      .catch((error) => report('releasing a lost partition', error));
  }

  async function handOver(copy: Copy, partition: number, lease: Lease): Promise<void> {
    lease.releasing = true;
    await copy.holder.released(partition, true).catch((error) => report('handing a partition over', error));
    if (copy.leases.get(partition) !== lease) return; // lost meanwhile: not ours to delete
    await dropLease(copy, partition);
    // Tell the other copies a partition is free (they watch the member keys).
    copy.memberValue = `${copy.holder.owner} ${++copy.handBacks}`;
    if (!copy.left) await kv.put(memberKey(copy.holder), copy.memberValue).catch(() => undefined);
  }

  /** Deletes a lease we hold, only if it is still ours (compare-and-set on its revision). */
  async function dropLease(copy: Copy, partition: number): Promise<void> {
    const lease = copy.leases.get(partition);
    if (lease === undefined) return;
    lease.deleting = true;
    await lease.renewal?.catch(() => undefined);
    copy.leases.delete(partition);
    try {
      await kv.delete(leaseKey(copy.holder.group, partition), { previousSeq: lease.revision });
    } catch (error) {
      // Not ours any more, or the server is away: either way it ages out.
      if (!lostRace(error)) report(`deleting ${leaseKey(copy.holder.group, partition)}`, error);
    }
  }

  return {
    async join(holder) {
      if (closed) throw new AppError(ERROR_CODES.INVALID_STATE, 'partition leases are closed');
      copies.set(holder, { holder, leases: new Map(), left: false, memberValue: holder.owner, handBacks: 0 });
      void watch();
      await runRound();
      schedule();
    },

    async leave(holder) {
      const copy = copies.get(holder);
      if (copy === undefined) return;
      copy.left = true;
      await round?.catch(() => undefined);
      copies.delete(holder);
      await Promise.all([...copy.leases.keys()].map((partition) => dropLease(copy, partition)));
      await kv.delete(memberKey(holder)).catch(() => undefined);
    },

    owned(holder) {
      const copy = copies.get(holder);
      return copy === undefined ? [] : [...copy.leases.keys()].sort((a, b) => a - b);
    },

    async close() {
      closed = true;
      stopWatching?.();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await round?.catch(() => undefined);
    },
  };
}

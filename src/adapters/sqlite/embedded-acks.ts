import type { BusOffsets } from './embedded-bus-offsets.ts';
import { DELAYED, DELIVERED, DONE, type Entry, type GroupRuntime } from './embedded-bus-state.ts';
import type { DeliveryCallbacks, Dispatcher } from './embedded-dispatch.ts';

export interface AcksOptions {
  dispatcher: Dispatcher;
  offsets: BusOffsets;
  /** Clock for nack due times, in milliseconds since the epoch. */
  now: () => number;
}

/**
 * Acks and nacks of the embedded bus's deliveries, and the nack redeliveries: one binary min-heap
 * on the due time, one timer for the earliest. Only the delivery holding an entry's current token
 * may settle it; a settled, requeued or stopped group's delivery does nothing.
 */
export interface Acks extends DeliveryCallbacks {
  /** Drops the pending redeliveries and their timer. */
  close(): void;
}

interface Redelivery {
  dueAt: number;
  group: GroupRuntime;
  entry: Entry;
  token: number;
}

export function createAcks(options: AcksOptions): Acks {
  const { dispatcher, offsets, now } = options;
  /** Pending nack redeliveries, a binary min-heap on `dueAt`; one timer serves the earliest. */
  const redeliveries: Redelivery[] = [];
  let redeliveryTimer: NodeJS.Timeout | undefined;
  let redeliveryTimerDueAt = Number.POSITIVE_INFINITY;
  let closed = false;

  function pushRedelivery(item: Redelivery): void {
    redeliveries.push(item);
    let i = redeliveries.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (redeliveries[parent]!.dueAt <= item.dueAt) break;
      redeliveries[i] = redeliveries[parent]!;
      i = parent;
    }
    redeliveries[i] = item;
    armRedeliveryTimer();
  }

  function popRedelivery(): Redelivery | undefined {
    const top = redeliveries[0];
    const last = redeliveries.pop();
    if (top === undefined || last === undefined || redeliveries.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= redeliveries.length) break;
      const right = left + 1;
      const child =
        right < redeliveries.length && redeliveries[right]!.dueAt < redeliveries[left]!.dueAt ? right : left;
      if (redeliveries[child]!.dueAt >= last.dueAt) break;
      redeliveries[i] = redeliveries[child]!;
      i = child;
    }
    redeliveries[i] = last;
    return top;
  }

  function armRedeliveryTimer(): void {
    const next = redeliveries[0];
    if (next === undefined || closed) return;
    if (redeliveryTimer !== undefined && redeliveryTimerDueAt <= next.dueAt) return;
    if (redeliveryTimer !== undefined) clearTimeout(redeliveryTimer);
    redeliveryTimerDueAt = next.dueAt;
    redeliveryTimer = setTimeout(fireRedeliveries, Math.max(0, next.dueAt - now()));
    redeliveryTimer.unref();
  }

  function fireRedeliveries(): void {
    redeliveryTimer = undefined;
    redeliveryTimerDueAt = Number.POSITIVE_INFINITY;
    const time = now();
    while (redeliveries.length > 0 && redeliveries[0]!.dueAt <= time) {
      const { group, entry, token } = popRedelivery()!;
      if (!group.active || entry.state !== DELAYED || entry.token !== token) continue;
      const owner = dispatcher.ownerOf(group, entry.partition);
      // Without a copy to take it, the group is being stopped; the floor keeps the message.
      if (owner !== null) dispatcher.deliver(group, entry, owner);
    }
    armRedeliveryTimer();
  }

  return {
    ack(group, entry, token) {
      if (entry.token !== token || entry.state !== DELIVERED || !group.active) return;
      entry.state = DONE;
      const partition = group.partitions[entry.partition]!;
      partition.inFlight--;
      // An idle partition may go to another copy of the group.
      if (partition.inFlight === 0) partition.owner = null;
      if (entry.nacked) group.ackedNacks.push(entry.seq);
      offsets.schedulePersist();
      dispatcher.dispatch(group, entry.partition);
    },

    nack(group, entry, token, delayMs) {
      if (entry.token !== token || entry.state !== DELIVERED || !group.active) return;
      entry.state = DELAYED;
      entry.nacked = true;
      // Whole milliseconds: bus_nacks.due_at is a STRICT INTEGER, and backoff with jitter is fractional.
      const dueAt = now() + (Number.isFinite(delayMs) && delayMs > 0 ? Math.ceil(delayMs) : 0);
      offsets.recordNack(group.name, entry.seq, entry.attempts, dueAt);
      pushRedelivery({ dueAt, group, entry, token });
    },

    close() {
      closed = true;
      if (redeliveryTimer !== undefined) clearTimeout(redeliveryTimer);
      redeliveries.length = 0;
    },
  };
}

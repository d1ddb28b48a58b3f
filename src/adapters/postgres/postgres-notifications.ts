import pg from 'pg';
import type { CommittedEvent } from '../../event-store/event-store.ts';
import { quoteIdentifier } from './postgres-schema.ts';

export interface PostgresNotificationsOptions {
  url: string;
  /** `<schema>_events` (written events) and `<schema>_scheduled` (later timers), sent by the commit function. */
  channels: { events: string; scheduled: string };
  /** This process's id in the payloads: the echo of its own commits is ignored. */
  origin: string;
  /** Something may have committed: another process's events, or commits missed while not listening. */
  onChange: () => void;
  /** The store is closing: a lost connection is not reconnected. */
  closing: () => boolean;
}

/**
 * The store's notifications: one dedicated connection LISTENs to both channels and relays other
 * processes' commits and timers to the local listeners (reconnecting after 1 s when it drops);
 * the store's own commits are told to the same listeners directly, after COMMIT.
 */
export interface PostgresNotifications {
  /** Connects and LISTENs; on error, reconnects in the background while the store is not closing. */
  listen(): Promise<void>;
  /** Whether the LISTEN connection is up (so PostgreSQL answers). */
  connected(): boolean;
  onEventsCommitted(listener: (events: readonly CommittedEvent[]) => void): () => void;
  onScheduled(listener: (dueAt: number) => void): () => void;
  /** Whether anyone listens for committed events (to skip building what nobody hears). */
  hasCommittedListeners(): boolean;
  /** Tells the local listeners of committed events; a listener's failure is its own. */
  emitCommitted(events: readonly CommittedEvent[]): void;
  /** Tells the local listeners of a later timer's due time. */
  emitScheduled(dueAt: number): void;
  /** Ends the LISTEN connection. */
  close(): Promise<void>;
}

export function createPostgresNotifications(options: PostgresNotificationsOptions): PostgresNotifications {
  const { url, channels, origin, onChange, closing } = options;
  const committedListeners = new Set<(events: readonly CommittedEvent[]) => void>();
  const scheduledListeners = new Set<(dueAt: number) => void>();
  let listener: pg.Client | undefined;

  async function listen(): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (notification) => onNotification(notification.channel, notification.payload));
    client.on('error', () => {
      // Reconnect in the background; subscriptions keep their safety poll meanwhile.
      if (listener === client) listener = undefined;
      client.end().catch(() => undefined);
      if (!closing()) setTimeout(() => void listen().catch(() => undefined), 1_000).unref();
    });
    await client.connect();
    await client.query(
      `LISTEN ${quoteIdentifier(channels.events)}; LISTEN ${quoteIdentifier(channels.scheduled)}`,
    );
    if (closing()) {
      await client.end();
      return;
    }
    listener = client;
    // Something may have committed while no one listened.
    onChange();
  }

  function onNotification(channel: string, payload: string | undefined): void {
    if (payload === undefined) return;
    let parsed: { o?: string; e?: [string, string, string | null][]; d?: number };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.o === origin) return;
    if (channel === channels.events) {
      onChange();
      if (committedListeners.size > 0 && parsed.e !== undefined) {
        emitCommitted(
          parsed.e.map(([streamId, type, correlationId]) => ({
            streamId,
            type,
            ...(correlationId !== null ? { correlationId } : {}),
          })),
        );
      }
    } else if (channel === channels.scheduled && typeof parsed.d === 'number') {
      emitScheduled(parsed.d);
    }
  }

  function emitCommitted(events: readonly CommittedEvent[]): void {
    for (const listen of committedListeners) {
      try {
        listen(events);
      } catch {
        // A live view's failure must not break a commit.
      }
    }
  }

  function emitScheduled(dueAt: number): void {
    for (const listen of scheduledListeners) {
      try {
        listen(dueAt);
      } catch {
        // idem
      }
    }
  }

  return {
    listen,
    connected: () => listener !== undefined,
    onEventsCommitted(listen) {
      committedListeners.add(listen);
      return () => committedListeners.delete(listen);
    },
    onScheduled(listen) {
      scheduledListeners.add(listen);
      return () => scheduledListeners.delete(listen);
    },
    hasCommittedListeners: () => committedListeners.size > 0,
    emitCommitted,
    emitScheduled,
    async close() {
      const current = listener;
      listener = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}

import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { dropSchema } from './postgres.ts';
import { SERVICE_URLS } from './services.ts';

/** Drops the namespace's PostgreSQL schema (enough when its streams lived on a test's own NATS server). */
export { dropSchema };

/** A fresh namespace (PostgreSQL schema and JetStream prefix), so runs do not collide. */
export function randomNamespace(): string {
  return `t_${randomBytes(5).toString('hex')}`;
}

/**
 * The environment of the distributed mode on the development servers, in `namespace`; `natsUrl`
 * points it at another NATS server (a test's own).
 */
export function distributedEnv(
  namespace: string,
  natsUrl: string = SERVICE_URLS.nats,
): Record<string, string> {
  return {
    ORDERFLOW_STORE: SERVICE_URLS.postgres,
    ORDERFLOW_BUS: natsUrl,
    ORDERFLOW_NAMESPACE: namespace,
  };
}

/** Drops the namespace's schema and deletes its JetStream streams (and with them their consumers). */
export async function removeNamespace(namespace: string): Promise<void> {
  await dropSchema(namespace);
  await deleteStreams(namespace);
}

/**
 * Deletes the JetStream streams (and with them the consumers) of a namespace, and its partition
 * lease bucket (`KV_<ns>_leases`).
 */
export async function deleteStreams(namespace: string, servers: string = SERVICE_URLS.nats): Promise<void> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${namespace}_`) || name === `KV_${namespace}_leases`) names.push(name);
    }
    await Promise.all(names.map((name) => jsm.streams.delete(name)));
  } finally {
    await nc.close();
  }
}

/**
 * Messages of a namespace its JetStream consumers have not settled yet: not delivered, or delivered
 * and not acked (in a handler, or waiting for a retry). 0 means every group is idle.
 */
export async function unsettledMessages(
  namespace: string,
  servers: string = SERVICE_URLS.nats,
): Promise<number> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    let unsettled = 0;
    for await (const stream of jsm.streams.list()) {
      if (!stream.config.name.startsWith(`${namespace}_`)) continue;
      for await (const consumer of jsm.consumers.list(stream.config.name)) {
        unsettled += consumer.num_pending + consumer.num_ack_pending;
      }
    }
    return unsettled;
  } finally {
    await nc.close();
  }
}

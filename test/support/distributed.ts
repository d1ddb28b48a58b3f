import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { SERVICE_URLS } from './services.ts';

/** A fresh namespace (PostgreSQL schema and JetStream prefix), so runs do not collide. */
export function randomNamespace(): string {
  return `t_${randomBytes(5).toString('hex')}`;
}

/** The environment of the distributed mode on the development servers, in `namespace`. */
export function distributedEnv(namespace: string): Record<string, string> {
  return {
    ORDERFLOW_STORE: SERVICE_URLS.postgres,
    ORDERFLOW_BUS: SERVICE_URLS.nats,
    ORDERFLOW_NAMESPACE: namespace,
  };
}

/** Drops the namespace's schema and deletes its JetStream streams (and with them their consumers). */
export async function removeNamespace(namespace: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVICE_URLS.postgres });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${namespace.replace(/"/g, '""')}" CASCADE`);
  } finally {
    await client.end();
  }
  await deleteStreams(namespace);
}

/** Deletes the JetStream streams (and with them the consumers) of a namespace. */
export async function deleteStreams(namespace: string): Promise<void> {
  const nc = await connect({ servers: SERVICE_URLS.nats });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${namespace}_`)) names.push(name);
    }
    for (const name of names) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

import type { Role } from '../../src/kernel/roles.ts';
import { killHard, startOrderflowProcess, type OrderflowProcess } from './orderflow-process.ts';
import { freePort, removeDir, tempDataDir } from './test-app.ts';

/**
 * Orderflow as several child processes sharing one namespace, one `orderflow start --roles …` per
 * member, each with its own data dir and port, kept across restarts (a member restarted after a
 * kill comes back where it was, as under a process supervisor).
 */

export interface ClusterMember {
  /** Unique in the cluster, e.g. `saga-2`. */
  readonly name: string;
  readonly roles: readonly Role[];
}

export interface OrderflowCluster {
  /** `http://127.0.0.1:<port>` of a member. */
  url(name: string): string;
  dataDir(name: string): string;
  /** Starts every member at once; resolves when all are ready. */
  startAll(): Promise<void>;
  /** Starts a member again on its data dir and port. */
  start(name: string): Promise<void>;
  /** SIGKILL. */
  kill(name: string): Promise<void>;
  /** Kills every member and deletes their data dirs. */
  remove(): Promise<void>;
  /** The last `lines` lines each member printed, across restarts, for failure messages. */
  tails(lines?: number): string;
}

interface Slot {
  member: ClusterMember;
  dataDir: string;
  port: number;
  running: OrderflowProcess | undefined;
  /** A start in progress: remove() waits for it, or it would leave a process behind. */
  starting?: Promise<unknown>;
  /** Output of earlier runs (the current run's is in `running.output`). */
  earlier: string[];
}

export async function createCluster(
  members: readonly ClusterMember[],
  env: Record<string, string>,
  readyTimeoutMs = 60_000,
): Promise<OrderflowCluster> {
  const slots = new Map<string, Slot>();
  const ports = new Set<number>();
  for (const member of members) {
    // freePort may hand out a port twice before anyone listens on it.
    let port = await freePort();
    for (let tries = 1; ports.has(port); tries++) {
      if (tries === 10) throw new Error('no free port');
      port = await freePort();
    }
    ports.add(port);
    slots.set(member.name, {
      member,
      dataDir: tempDataDir(`orderflow-${member.name}-`),
      port,
      running: undefined,
      earlier: [],
    });
  }

  const slot = (name: string): Slot => {
    const found = slots.get(name);
    if (found === undefined) throw new Error(`no cluster member ${name}`);
    return found;
  };
  const retire = (s: Slot): void => {
    if (s.running !== undefined) s.earlier.push(...s.running.output, `--- ${s.member.name} killed ---\n`);
    s.running = undefined;
  };

  const cluster: OrderflowCluster = {
    url: (name) => `http://127.0.0.1:${slot(name).port}`,
    dataDir: (name) => slot(name).dataDir,
    async startAll() {
      // Settled, not Promise.all: a failure must not leave others starting unseen by remove().
      const results = await Promise.allSettled(members.map((member) => cluster.start(member.name)));
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
    async start(name) {
      const s = slot(name);
      if (s.running !== undefined) throw new Error(`${name} is running`);
      const starting = startOrderflowProcess(s.dataDir, s.port, env, {
        roles: s.member.roles,
        readyTimeoutMs,
      });
      s.starting = starting;
      try {
        s.running = await starting;
      } catch (error) {
        s.earlier.push(error instanceof Error ? error.message : String(error));
        throw error;
      } finally {
        s.starting = undefined;
      }
    },
    async kill(name) {
      const s = slot(name);
      if (s.running !== undefined) await killHard(s.running);
      retire(s);
    },
    async remove() {
      await Promise.allSettled([...slots.values()].flatMap((s) => (s.starting ? [s.starting] : [])));
      await Promise.all(members.map((member) => cluster.kill(member.name)));
      for (const s of slots.values()) removeDir(s.dataDir);
    },
    tails(lines = 20) {
      return [...slots.values()]
        .map((s) => {
          const text = [...s.earlier, ...(s.running?.output ?? [])].join('');
          const tail = text.trimEnd().split('\n').slice(-lines).map(compactLogLine).join('\n');
          return `--- ${s.member.name} (${s.member.roles.join(',')}) ---\n${tail}`;
        })
        .join('\n');
    },
  };
  return cluster;
}

const LEVELS: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** A pino JSON line as `time level msg: error` (its stack left out), any other line as it is. */
function compactLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line) as {
      time?: number;
      level?: number;
      msg?: string;
      err?: { message?: string };
    };
    const time = entry.time === undefined ? '' : new Date(entry.time).toISOString().slice(11, 23);
    const error = entry.err?.message === undefined ? '' : `: ${entry.err.message}`;
    return `${time} ${LEVELS[entry.level ?? 0] ?? entry.level} ${entry.msg ?? ''}${error}`;
  } catch {
    return line;
  }
}

import net from 'node:net';

/**
 * The real servers the distributed adapters are tested against (DESIGN.md §6). A suite that needs one
 * runs when it answers; when it does not, the suite is skipped — unless ORDERFLOW_REQUIRE_SERVICES=1
 * (CI), where a missing server fails the run instead of hiding the suite.
 */
export const SERVICE_URLS = {
  postgres: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  nats: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  rabbitmq: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
} as const;

export type ServiceName = keyof typeof SERVICE_URLS;

const PORTS: Record<ServiceName, number> = { postgres: 5432, nats: 4222, rabbitmq: 5672 };

function answers(service: ServiceName): Promise<boolean> {
  const url = new URL(SERVICE_URLS[service]);
  return portAnswers(url.hostname, url.port === '' ? PORTS[service] : Number(url.port));
}

/** Whether something accepts TCP connections at `host:port` within a second. */
export function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether the suites needing `service` should run. Throws when the server is down and
 * ORDERFLOW_REQUIRE_SERVICES=1, so that CI fails rather than skips. Use with `describe.runIf`.
 */
export async function serviceAvailable(service: ServiceName): Promise<boolean> {
  if (await answers(service)) return true;
  if (process.env.ORDERFLOW_REQUIRE_SERVICES === '1') {
    throw new Error(
      `${service} does not answer at ${SERVICE_URLS[service]} and ORDERFLOW_REQUIRE_SERVICES=1: start it (see README, Tests)`,
    );
  }
  return false;
}

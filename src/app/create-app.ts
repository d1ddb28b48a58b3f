import { pino, type Logger } from 'pino';
import packageJson from '../../package.json' with { type: 'json' };
import type { AppConfig } from '../config/load-config.ts';
import {
  DEMO_MARKETPLACE,
  registerCatalogHttp,
  seedCatalog,
  type Catalog,
} from '../contexts/catalog/index.ts';
import {
  createOrderIntake,
  createOrderUpdates,
  ORDER_MESSAGES,
  registerOrdersHttp,
} from '../contexts/orders/index.ts';
import type { EventStore } from '../event-store/index.ts';
import {
  createHttpServer,
  createMetrics,
  registerStoreMetrics,
  registerAdminRoutes,
  registerHealthRoutes,
  registerOpenApiRoute,
  registerOperationsPage,
  type AppMetrics,
  type HttpServer,
  type LifecycleState,
} from '../http/index.ts';
import {
  createConsumer,
  createMessageScheduler,
  MessageCatalog,
  redriveDeadLetter,
  type DeadLetterStore,
  type HandlerGroup,
  type Transport,
} from '../messaging/index.ts';
import { AppError, ERROR_CODES } from '../shared/errors.ts';
import { removePidFile, resolveAdminKey, writePidFile } from './data-dir.ts';
import { CONTEXT_MODULES } from './context-modules.ts';
import { createEmbeddedAdapters } from './embedded-adapters.ts';
import { ROLES, type Role } from './roles.ts';

export interface CreateAppOptions {
  /** The roles this process runs. @default every role */
  roles?: readonly Role[];
  /** @default a pino logger at the configured level, to stdout */
  logger?: Logger;
}

export interface App {
  readonly config: AppConfig;
  readonly roles: readonly Role[];
  readonly adminKey: string;
  /** Where a newly generated admin key was written, on the first start without ORDERFLOW_ADMIN_KEY; print it once. */
  readonly generatedAdminKeyFile: string | undefined;
  readonly metrics: AppMetrics;
  readonly state: LifecycleState;
  /** Starts the bus and the consumers of this process's roles, then listens. */
  start(): Promise<{ url: string }>;
  /** Graceful: stops accepting requests (waiting for those in flight), drains consumers, closes the bus, then the store. */
  stop(): Promise<void>;
}

/** A consumer group and the role that runs it. */
interface ConsumerSpec {
  role: Role;
  handlers: HandlerGroup;
  /** CloudEvents source of the messages its handlers send. */
  source: string;
}

/** Every message definition of every context: the catalog validates against them and documents them. */
export function createMessageCatalog(): MessageCatalog {
  return new MessageCatalog().register(...ORDER_MESSAGES);
}

/**
 * The composition root, and the only place that imports adapters: picks them from the config,
 * seeds the demo catalog on first start, wires contexts, consumers and the HTTP server.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<App> {
  if (config.store.kind !== 'sqlite' || config.bus.kind !== 'embedded') {
    throw new AppError(
      ERROR_CODES.CONFIG_INVALID,
      'validation',
      'distributed mode is not available in this build yet',
    );
  }
  const roles: readonly Role[] = options.roles ?? ROLES;
  const has = (role: Role): boolean => roles.includes(role);
  const logger = options.logger ?? pino({ level: config.logLevel });
  const adminKey = await resolveAdminKey(config.adminKey, config.dataDir);

  const adapters = createEmbeddedAdapters({
    file: config.store.file,
    synchronous: config.sqliteSynchronous,
    partitions: config.partitions,
    onTransportError: (error) =>
      logger.warn({ err: error }, 'embedded bus background write failed; retrying'),
  });
  const { store, transport, deadLetters } = adapters;

  let state: LifecycleState = 'starting';
  const metrics = createMetrics();
  registerStoreMetrics(metrics, () => adapters.stats());
  const messages = createMessageCatalog();
  const consumerLogger = logger.child({ component: 'consumer' });
  const now = (): Date => new Date();
  const scheduler = createMessageScheduler({
    store,
    onError: (error) => logger.warn({ err: error }, 'releasing due timers failed; retrying'),
  });

  // Restarts find every product already listed and write nothing.
  let catalog: Catalog;
  try {
    catalog = await seedCatalog(store, DEMO_MARKETPLACE.products);
  } catch (error) {
    await store.close();
    throw error;
  }
  const modules = CONTEXT_MODULES.map((create) =>
    create({
      config,
      store,
      messages,
      catalog,
      marketplace: DEMO_MARKETPLACE,
      metrics,
      logger,
      adminKey: adminKey.key,
      now,
    }),
  );
  for (const module of modules) messages.register(...module.messages);
  const localModules = modules.filter((module) => has(module.role));

  const specs: ConsumerSpec[] = modules.flatMap((module) =>
    module.handlerGroups.map((handlers) => ({
      role: module.role,
      handlers,
      source: `orderflow/${module.name}`,
    })),
  );
  const consumers = specs
    .filter((spec) => has(spec.role))
    .map((spec) => ({
      group: spec.handlers.group,
      running: false,
      consumer: createConsumer({
        group: spec.handlers,
        transport,
        store,
        deadLetters,
        catalog: messages,
        source: spec.source,
        logger: consumerLogger,
        now,
        observer: {
          handled: (group, type) => metrics.messagesHandled.inc({ group, type }),
          retried: (group, type) => metrics.messageRetries.inc({ group, type }),
          deadLettered: (group, type) => metrics.deadLetters.inc({ group, type }),
        },
      }),
    }));

  let http: HttpServer;
  try {
    http = await createHttpServer({ logger, metrics, lifecycle: () => state, version: packageJson.version });
    registerHealthRoutes(http, {
      metrics,
      readiness: () => {
        const checks = {
          store: !adapters.closed(),
          consumers: consumers.every((c) => c.running),
        };
        const ready = state === 'running' && checks.store && checks.consumers;
        return ready
          ? { ready, checks }
          : { ready, checks, reason: state === 'running' ? 'degraded' : state };
      },
    });
    if (has('api')) {
      registerApi(http, {
        store,
        catalog,
        messages,
        metrics,
        deadLetters,
        transport,
        adminKey: adminKey.key,
      });
      for (const module of modules) module.registerHttp?.(http);
      registerOperationsPage(http, {
        version: packageJson.version,
        mode: 'embedded',
        namespace: config.namespace,
        roles,
        dataDir: config.dataDir,
        consumers: () => consumers.map((c) => ({ group: c.group, running: c.running })),
        startedAt: new Date(),
      });
    }
    await http.ready();
  } catch (error) {
    await store.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      state = 'stopping';
      // Order matters: no new requests (in-flight ones finish), then no new deliveries (running
      // handlers commit), then the bus, then the store, which commits its queue and closes the file.
      await http.close();
      await Promise.all(
        consumers.map(async (c) => {
          await c.consumer.stop();
          c.running = false;
        }),
      );
      await scheduler.stop();
      for (const module of localModules) await module.stop?.();
      await transport.close();
      await store.close();
      await removePidFile(config.dataDir).catch(() => undefined);
      state = 'stopped';
    })();
    return stopping;
  }

  return {
    config,
    roles,
    adminKey: adminKey.key,
    generatedAdminKeyFile: adminKey.generatedIn,
    metrics,
    get state() {
      return state;
    },
    async start() {
      if (state !== 'starting') throw new Error(`cannot start an app that is ${state}`);
      try {
        for (const module of localModules) await module.start?.();
        await transport.start();
        await scheduler.start();
        for (const c of consumers) {
          await c.consumer.start();
          c.running = true;
        }
        await http.listen({ port: config.port, host: config.host });
        await writePidFile(config.dataDir);
      } catch (error) {
        await stop();
        throw error;
      }
      state = 'running';
      return { url: listeningUrl(http, config.host) };
    },
    stop,
  };
}

interface ApiDependencies {
  store: EventStore;
  catalog: Catalog;
  messages: MessageCatalog;
  metrics: AppMetrics;
  deadLetters: DeadLetterStore;
  transport: Transport;
  adminKey: string;
}

function registerApi(http: HttpServer, deps: ApiDependencies): void {
  registerOpenApiRoute(http);
  registerCatalogHttp(http, { catalog: deps.catalog });
  const intake = createOrderIntake({ store: deps.store, catalog: deps.catalog, messages: deps.messages });
  registerOrdersHttp(http, {
    intake,
    updates: createOrderUpdates({ store: deps.store, load: (orderId) => intake.get(orderId) }),
    onOrderPlaced: (order) => deps.metrics.ordersPlaced.inc({ region: order.region }),
  });
  registerAdminRoutes(http, {
    adminKey: deps.adminKey,
    deadLetters: deps.deadLetters,
    redrive: (id) => redriveDeadLetter(id, { deadLetters: deps.deadLetters, transport: deps.transport }),
  });
}

function listeningUrl(http: HttpServer, host: string): string {
  const address = http.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

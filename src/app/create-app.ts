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
  registerPartitionMetrics,
  registerRelayMetrics,
  registerStoreMetrics,
  registerAdminRoutes,
  registerHealthRoutes,
  registerAsyncApiRoute,
  registerOpenApiRoute,
  registerOperationsPage,
  type AppMetrics,
  type LifecycleState,
} from '../http/index.ts';
import type { HttpServer } from '../kernel/http/index.ts';
import {
  createConsumer,
  createMessageScheduler,
  MessageCatalog,
  redriveDeadLetter,
  soleHolderLease,
  type DeadLetterStore,
  type HandlerGroup,
  type LeaderLease,
  type Transport,
} from '../messaging/index.ts';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../kernel/errors.ts';
import { removePidFile, resolveAdminKey, writePidFile } from './data-dir.ts';
import { createContextModules, initialSimulatorSettings } from './context-modules.ts';
import { createSimulatorSettingsFollower } from '../simulators/simulator-settings.ts';
import { registerSimulatorAdminRoutes } from '../simulators/simulator-admin-routes.ts';
import { createDistributedAdapters } from './distributed-adapters.ts';
import { createOperations } from './operations-wiring.ts';
import { createEmbeddedAdapters } from './embedded-adapters.ts';
import type { OutboxRelay } from '../messaging/outbox/outbox-relay.ts';
import { ROLES, type Role } from '../kernel/roles.ts';
import {
  createKpiProjection,
  loadPriceTable,
  registerKpiMetrics,
  type KpiProjection,
} from '../operations/kpi/index.ts';
import { traceLogFields } from '../kernel/trace-context.ts';
import { startTracing, type Tracing } from './tracing.ts';

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
  const roles: readonly Role[] = options.roles ?? ROLES;
  const has = (role: Role): boolean => roles.includes(role);
  const logger = options.logger ?? pino({ level: config.logLevel, mixin: traceLogFields });
  // Set up when the app starts; consumers ask it whether spans are exported.
  let tracing: Tracing | undefined;
  const adminKey = await resolveAdminKey(config.adminKey, config.dataDir);

  const adapters = await openAdapters(config, logger);
  const { store, transport, deadLetters, relay } = adapters;

  let state: LifecycleState = 'starting';
  const metrics = createMetrics();
  adapters.registerMetrics(metrics);
  const messages = createMessageCatalog();
  const consumerLogger = logger.child({ component: 'consumer' });
  const now = (): Date => new Date();
  const scheduler = createMessageScheduler({
    store,
    onError: (error) => logger.warn({ err: error }, 'releasing due timers failed; retrying'),
  });
  const simulators = createSimulatorSettingsFollower({
    store,
    initial: initialSimulatorSettings(config),
    onError: (error) => logger.warn({ err: error }, 'following simulator settings failed; retrying'),
  });

  // Restarts find every product already listed and write nothing.
  let catalog: Catalog;
  let kpis: KpiProjection | undefined;
  try {
    catalog = await seedCatalog(store, DEMO_MARKETPLACE.products);
    if (has('operations')) kpis = await createKpis(config, adapters, metrics, logger);
  } catch (error) {
    await transport.close().catch(() => undefined);
    await adapters.close();
    throw error;
  }
  const modules = createContextModules(
    config,
    {
      store,
      messages,
      catalog,
      marketplace: DEMO_MARKETPLACE,
      logger,
      adminKey: adminKey.key,
      now,
    },
    simulators,
  );
  const operations = createOperations(
    config,
    { store, messages, logger, adminKey: adminKey.key, now },
    { lease: adapters.leaderLease('operations'), kpis, registry: metrics.registry },
  );
  if (has('operations')) operations.registerMetrics(metrics.registry);
  modules.push(operations);
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
        // Messages cross processes in distributed mode: check them on the way in too.
        validateIncoming: adapters.mode === 'distributed',
        recordSpans: () => tracing?.exporting === true,
        messagingSystem: adapters.mode === 'distributed' ? 'nats' : 'orderflow',
        // Incident messages are correlated by incident, not by order.
        ...(spec.role === 'operations' ? { orderIdOf: () => undefined } : {}),
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
        const connections = adapters.connections();
        const checks: Record<string, boolean> = {
          store: !adapters.closed(),
          consumers: consumers.every((c) => c.running),
          ...connections,
        };
        // Intake needs only the store (orders wait in the outbox while the bus is away); a process
        // that consumes needs the bus too.
        const needed = Object.entries(checks).filter(([name]) => name !== 'nats' || consumers.length > 0);
        const down = needed.filter(([, ok]) => !ok).map(([name]) => name);
        const ready = state === 'running' && down.length === 0;
        if (ready) return { ready, checks };
        const reason = state !== 'running' ? state : `degraded: ${down.join(', ')} down`;
        return { ready, checks, reason };
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
      registerSimulatorAdminRoutes(http, {
        adminKey: adminKey.key,
        store,
        follower: simulators,
        gatewayTimeoutMs: config.paymentGateway.timeoutMs,
      });
      registerOperationsPage(http, {
        version: packageJson.version,
        mode: adapters.mode,
        namespace: config.namespace,
        roles,
        dataDir: config.dataDir,
        consumers: () => consumers.map((c) => ({ group: c.group, running: c.running })),
        startedAt: new Date(),
      });
    }
    await http.ready();
  } catch (error) {
    await transport.close().catch(() => undefined);
    await adapters.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      state = 'stopping';
      // Order matters: no new requests (in-flight ones finish), then no new deliveries (running
      // handlers commit), then the relay (its batch in hand is published and marked), the timers,
      // then the bus, then the store, which commits its queue and closes the file / the pool.
      await http.close();
      await Promise.all(
        consumers.map(async (c) => {
          await c.consumer.stop();
          c.running = false;
        }),
      );
      await relay?.stop();
      await scheduler.stop();
      await kpis?.stop();
      for (const module of localModules) await module.stop?.();
      await simulators.stop();
      await transport.close();
      await adapters.close();
      // Last: the spans of the drained handlers are flushed too.
      await tracing?.stop();
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
      if (state !== 'starting') {
        throw new AppError(
          ERROR_CODES.INVALID_STATE,
          `cannot start an app that is ${state} (start() runs once)`,
        );
      }
      try {
        tracing = startTracing({ version: packageJson.version, roles, logger });
        // First: the simulators start with the settings operators changed before a restart.
        await simulators.start();
        // Caught up before the operations role's first sample: a counter that jumped from its
        // half-read value to its whole history would look like a burst to the burn-rate rules.
        await kpis?.start();
        for (const module of localModules) await module.start?.();
        await transport.start();
        await relay?.start();
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

/** The adapters of either mode, behind one shape. */
interface Adapters {
  readonly mode: 'embedded' | 'distributed';
  readonly store: EventStore;
  readonly transport: Transport;
  readonly deadLetters: DeadLetterStore;
  /** Distributed mode only: the embedded bus reads its outbox directly. */
  readonly relay: OutboxRelay | undefined;
  closed(): boolean;
  /** The servers this mode talks to and whether each answers now (none in embedded mode). */
  connections(): Record<string, boolean>;
  /** Registers the adapters' own metrics (group commits of the embedded store, the relay's rounds). */
  registerMetrics(metrics: AppMetrics): void;
  /** Bytes the store takes (SQLite file and WAL, or the namespace's tables), for the cost per order. */
  storageBytes(): Promise<number>;
  /** A lease among the copies of a role: a PostgreSQL advisory lock, or (embedded) the one process. */
  leaderLease(name: string): LeaderLease;
  /** Closes the store (and, distributed, the outbox and dead-letter connections). After the transport. */
  close(): Promise<void>;
}

/**
 * Picks the adapters from the config: SQLite + the embedded bus, or PostgreSQL + JetStream (loadConfig
 * refuses mixed pairs). Distributed adapters connect here, so an unreachable server is refused before
 * anything else starts, with one message naming it.
 */
async function openAdapters(config: AppConfig, logger: Logger): Promise<Adapters> {
  if (config.store.kind === 'sqlite' && config.bus.kind === 'embedded') {
    const embedded = createEmbeddedAdapters({
      file: config.store.file,
      synchronous: config.sqliteSynchronous,
      partitions: config.partitions,
      onTransportError: (error) =>
        logger.warn({ err: error }, 'embedded bus background write failed; retrying'),
    });
    return {
      mode: 'embedded',
      store: embedded.store,
      transport: embedded.transport,
      deadLetters: embedded.deadLetters,
      relay: undefined,
      closed: () => embedded.closed(),
      connections: () => ({}),
      registerMetrics: (metrics) => registerStoreMetrics(metrics, () => embedded.stats()),
      storageBytes: () => embedded.storageBytes(),
      leaderLease: () => soleHolderLease(),
      close: () => embedded.store.close(),
    };
  }
  if (config.store.kind === 'postgres' && config.bus.kind === 'nats') {
    const distributed = createDistributedAdapters({
      storeUrl: config.store.url,
      busUrl: config.bus.url,
      namespace: config.namespace,
      partitions: config.partitions,
      poolSize: config.postgresPoolSize,
      onTransportError: (error) => logger.warn({ err: error }, 'NATS transport background failure'),
      onRelayError: (error) => logger.warn({ err: error }, 'outbox relay round failed; retrying'),
    });
    try {
      await distributed.connect();
    } catch (error) {
      await distributed.transport.close().catch(() => undefined);
      await distributed.close().catch(() => undefined);
      throw error;
    }
    return {
      mode: 'distributed',
      ...distributed,
      registerMetrics: (metrics) => {
        registerRelayMetrics(metrics, () => distributed.relayStats());
        registerPartitionMetrics(metrics, () => distributed.transport.ownedPartitions());
      },
    };
  }
  throw InvalidOptionsError.format(
    'ORDERFLOW_STORE',
    `must be SQLite with ORDERFLOW_BUS=embedded, or postgres:// with ORDERFLOW_BUS=nats:// (got ${config.store.kind} with ${config.bus.kind})`,
  );
}

/** The operations role's KPI projection (DESIGN.md §9) and its business figures on /metrics. */
async function createKpis(
  config: AppConfig,
  adapters: Adapters,
  metrics: AppMetrics,
  logger: Logger,
): Promise<KpiProjection> {
  const prices = await loadPriceTable({ file: config.operations.priceTableFile });
  const projection = createKpiProjection({
    store: adapters.store,
    deadLetters: adapters.deadLetters,
    objectives: config.operations.slo,
    onError: (error) => logger.warn({ err: error }, 'KPI projection read failed; retrying'),
  });
  registerKpiMetrics(metrics.registry, projection, {
    consumerLag: () => adapters.transport.consumerLag(),
    deadLetters: (status) => adapters.deadLetters.count(status),
    usage: { prices, storageBytes: () => adapters.storageBytes() },
  });
  return projection;
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
  registerAsyncApiRoute(http, deps.messages, packageJson.version);
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
    store: deps.store,
  });
}

function listeningUrl(http: HttpServer, host: string): string {
  const address = http.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

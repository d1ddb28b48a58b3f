import type { Logger } from 'pino';
import type { AppConfig } from '../config/load-config.ts';
import type { DemoMarketplace } from '../contexts/catalog/index.ts';
import type { Catalog } from '../contexts/catalog/index.ts';
import type { EventStore } from '../event-store/index.ts';
import type { AppMetrics, HttpServer } from '../http/index.ts';
import type { HandlerGroup, MessageCatalog, MessageDefinition } from '../messaging/index.ts';
import type { Role } from './roles.ts';

/**
 * How a bounded context plugs into the application. The composition root creates every module with
 * the same dependencies (ports only: contexts never see adapters), registers every module's messages
 * in the catalog, runs the consumer groups of the modules whose role this process has, and, in the
 * `api` role, lets each module register its HTTP routes.
 */
export interface ContextModule {
  /** The context's name, e.g. `inventory`: also the CloudEvents source `orderflow/<name>`. */
  readonly name: string;
  /** The role whose processes run this module's consumer groups and `start`. */
  readonly role: Role;
  readonly messages: readonly MessageDefinition[];
  readonly handlerGroups: readonly HandlerGroup[];
  /** Routes served by processes with the `api` role. */
  registerHttp?(http: HttpServer): void;
  /** Runs before the consumers start, in processes with this module's role (seeding, loading). */
  start?(): Promise<void>;
  /** Runs after the consumers stopped. */
  stop?(): Promise<void>;
}

export interface ContextModuleDependencies {
  readonly config: AppConfig;
  readonly store: EventStore;
  /** Every message definition of every module: for validating what HTTP handlers commit directly. */
  readonly messages: MessageCatalog;
  readonly catalog: Catalog;
  readonly marketplace: DemoMarketplace;
  readonly metrics: AppMetrics;
  readonly logger: Logger;
  /** Bearer key for admin endpoints (and, for now, vendor endpoints). */
  readonly adminKey: string;
  readonly now: () => Date;
}

export type ContextModuleFactory = (deps: ContextModuleDependencies) => ContextModule;

import type { Logger } from 'pino';
import type { EventStore } from '../event-store/index.ts';
import type { HttpServer } from '../kernel/http/index.ts';
import type { Role } from '../kernel/roles.ts';
import type { HandlerGroup } from './handler.ts';
import type { MessageCatalog, MessageDefinition } from './message-catalog.ts';

/**
 * How a bounded context (or the saga) plugs into the application. The composition root creates each
 * module with the ports below plus the module's own options (taken from the configuration by
 * src/app, so a context never reads the configuration itself), registers every module's messages
 * in the catalog, runs the consumer groups of the modules whose role this process has, and, in the
 * `api` role, lets each module register its HTTP routes.
 *
 * It lives beside the handler types it names: the kernel is above the ports and cannot import them.
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

/** What every module gets from the composition root: ports and shared services, never an adapter. */
export interface ModuleDependencies {
  readonly store: EventStore;
  /** Every message definition of every module: for validating what HTTP handlers commit directly. */
  readonly messages: MessageCatalog;
  readonly logger: Logger;
  /** Bearer key for admin endpoints (and vendor keys derived from it). */
  readonly adminKey: string;
  readonly now: () => Date;
}

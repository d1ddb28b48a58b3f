import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { AppError, ERROR_CODES, InvalidOptionsError } from '../kernel/errors.ts';

// ajv-formats is CommonJS with a `default` export that NodeNext types do not see as callable.
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv) => Ajv;

/**
 * Every message type Orderflow sends has a schema (DESIGN.md §5). Contexts define their messages with
 * `defineMessage` and register them in one catalog; the catalog validates payloads at the boundary
 * (before a message enters the outbox, and when it arrives from another process) and is the source
 * of the AsyncAPI document (GET /asyncapi.json, src/http/asyncapi.ts).
 */
export interface MessageDefinition<S extends TSchema = TSchema> {
  /** Namespaced type, `<context>.<Name>`. */
  readonly type: string;
  readonly kind: 'command' | 'event';
  readonly schema: S;
  readonly description: string;
  /** Schema version of the payload; bumped only for breaking changes (with an upcaster). */
  readonly version: number;
}

export type MessageData<D> = D extends MessageDefinition<infer S> ? Static<S> : never;

export function defineMessage<S extends TSchema>(definition: {
  type: string;
  kind: 'command' | 'event';
  schema: S;
  description: string;
  version?: number;
}): MessageDefinition<S> {
  if (!/^[a-z][a-z-]*\.[A-Z][A-Za-z]+$/.test(definition.type)) {
    throw InvalidOptionsError.format(
      'type',
      `must look like "context.PascalName", e.g. "orders.OrderPlaced" (got ${JSON.stringify(definition.type)})`,
    );
  }
  return { ...definition, version: definition.version ?? 1 };
}

export class MessageCatalog {
  private readonly definitions = new Map<string, MessageDefinition>();
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv: Ajv;

  constructor() {
    this.ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(this.ajv);
  }

  register(...definitions: MessageDefinition[]): this {
    for (const definition of definitions) {
      const existing = this.definitions.get(definition.type);
      if (existing !== undefined && existing !== definition) {
        throw InvalidOptionsError.format(
          'type',
          `must be registered once (got a second, different definition of ${definition.type})`,
        );
      }
      this.definitions.set(definition.type, definition);
    }
    return this;
  }

  get(type: string): MessageDefinition | undefined {
    return this.definitions.get(type);
  }

  list(): MessageDefinition[] {
    return [...this.definitions.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  /** Throws a non-retryable AppError naming each violation when `data` does not match the type's schema. */
  validate(type: string, data: unknown): void {
    const definition = this.definitions.get(type);
    if (definition === undefined) {
      throw new AppError(ERROR_CODES.UNKNOWN_MESSAGE_TYPE, `unknown message type ${type}`, {
        retryable: false,
      });
    }
    let validator = this.validators.get(type);
    if (validator === undefined) {
      validator = this.ajv.compile(definition.schema);
      this.validators.set(type, validator);
    }
    if (!validator(data)) {
      const problems = (validator.errors ?? []).map(
        (e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`,
      );
      throw new AppError(
        ERROR_CODES.MESSAGE_SCHEMA_VIOLATION,
        `${type} does not match its schema: ${problems.join('; ')}`,
        { retryable: false, details: { type, problems } },
      );
    }
  }
}

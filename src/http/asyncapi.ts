import type { HttpServer } from '../kernel/http/index.ts';
import { contextOf, nameOf, type MessageCatalog, type MessageDefinition } from '../messaging/index.ts';

/** The CloudEvents attributes every message carries (DESIGN.md §5); on JetStream they are headers. */
const ENVELOPE_HEADERS = {
  type: 'object',
  required: ['id', 'source', 'type', 'time', 'partitionkey'],
  properties: {
    id: { type: 'string', description: 'Message id (also Nats-Msg-Id, and the inbox dedupe key).' },
    source: { type: 'string', description: 'The sending context, `orderflow/<context>`.' },
    type: { type: 'string', description: 'The message type, `<context>.<Name>`.' },
    subject: { type: 'string' },
    time: { type: 'string', format: 'date-time' },
    datacontenttype: { type: 'string', const: 'application/json' },
    correlationid: { type: 'string', description: 'The order the message belongs to.' },
    causationid: { type: 'string', description: 'The message that caused this one.' },
    traceparent: { type: 'string', description: 'W3C trace context.' },
    partitionkey: { type: 'string', description: 'Messages of one key are handled in order.' },
  },
} as const;

/**
 * The message catalogue as an AsyncAPI 3.0 document: one channel per context (its partitioned
 * subjects `<namespace>.<context>.p<k>` on JetStream, the same log in embedded mode), one `send`
 * operation per context, and every message type with the schema its payload is validated against.
 */
export function createAsyncApiDocument(catalog: MessageCatalog, version: string): Record<string, unknown> {
  const byContext = new Map<string, MessageDefinition[]>();
  for (const definition of catalog.list()) {
    const context = contextOf(definition.type);
    byContext.set(context, [...(byContext.get(context) ?? []), definition]);
  }
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const [context, definitions] of byContext) {
    const refs = Object.fromEntries(
      definitions.map((d) => [nameOf(d.type), { $ref: `#/components/messages/${d.type}` }]),
    );
    channels[context] = {
      address: `{namespace}.${context}.p{partition}`,
      description: `Commands to and events of the ${context} context.`,
      parameters: {
        namespace: { description: 'ORDERFLOW_NAMESPACE' },
        partition: { description: 'The partition key hashed into one of ORDERFLOW_PARTITIONS subjects.' },
      },
      messages: refs,
    };
    operations[`send-${context}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${context}` },
      messages: definitions.map((d) => ({ $ref: `#/channels/${context}/messages/${nameOf(d.type)}` })),
    };
    for (const definition of definitions) {
      messages[definition.type] = {
        name: definition.type,
        title: `${nameOf(definition.type)} (${definition.kind})`,
        summary: definition.description,
        contentType: 'application/json',
        headers: ENVELOPE_HEADERS,
        payload: definition.schema,
        'x-orderflow-kind': definition.kind,
        'x-orderflow-schema-version': definition.version,
      };
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Orderflow messages',
      version,
      description:
        'Every command and event Orderflow sends between its contexts, with the schema each payload is validated against. Schemas evolve by adding optional fields; a breaking change gets a new schema version and an upcaster.',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
}

/** GET /asyncapi.json: the AsyncAPI 3.0 document of every registered message, built on first request. */
export function registerAsyncApiRoute(app: HttpServer, catalog: MessageCatalog, version: string): void {
  let document: string | undefined;
  app.get('/asyncapi.json', { schema: { hide: true } }, async (_request, reply) => {
    document ??= JSON.stringify(createAsyncApiDocument(catalog, version));
    return reply.type('application/json; charset=utf-8').send(document);
  });
}

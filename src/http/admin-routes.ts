import { Type } from '@sinclair/typebox';
import type { EventStore } from '../event-store/index.ts';
import type {
  DeadLetter,
  DeadLetterStatus,
  DeadLetterStore,
} from '../messaging/dead-letter/dead-letter-store.ts';
import { deadLetterRedrivenAction, recordOperatorAction } from '../messaging/index.ts';
import { createAdminAuth } from '../kernel/http/admin-auth.ts';
import type { HttpServer } from '../kernel/http/index.ts';
import { problemResponse } from '../kernel/http/problem-details.ts';

export interface AdminRoutesOptions {
  adminKey: string;
  deadLetters: DeadLetterStore;
  /** Sends a parked dead letter back to its group and marks it re-driven. */
  redrive: (id: string) => Promise<DeadLetter>;
  /** Where each redrive is recorded as an operator action (incident timelines show it). */
  store: EventStore;
}

const DeadLetterSchema = Type.Object({
  id: Type.String(),
  group: Type.String({ description: 'The consumer group that gave up on the message' }),
  status: Type.Union([Type.Literal('parked'), Type.Literal('redriven')]),
  attempts: Type.Integer(),
  deadLetteredAt: Type.String({ format: 'date-time' }),
  redrivenAt: Type.Optional(Type.String({ format: 'date-time' })),
  error: Type.Object({
    name: Type.String(),
    message: Type.String(),
    code: Type.Optional(Type.String()),
    stack: Type.Optional(Type.String()),
  }),
  message: Type.Unknown({ description: 'The message envelope (CloudEvents attributes and data)' }),
});

const Unauthorized = {
  401: problemResponse('No admin key (send Authorization: Bearer <key>)'),
  403: problemResponse('Wrong admin key'),
};

/** Dead-letter view and redrive (DESIGN.md §4), behind the admin key. */
export function registerAdminRoutes(app: HttpServer, options: AdminRoutesOptions): void {
  const authenticate = createAdminAuth(options.adminKey);

  app.get(
    '/v1/admin/dead-letters',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'Messages that consumers gave up on, newest first',
        security: [{ adminKey: [] }],
        querystring: Type.Object(
          {
            status: Type.Optional(
              Type.Unsafe<DeadLetterStatus>({ type: 'string', enum: ['parked', 'redriven'] }),
            ),
            group: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(DeadLetterSchema) }),
          ...Unauthorized,
          422: problemResponse('Invalid query'),
        },
      },
    },
    async (request) => {
      const { status, group, limit } = request.query;
      const items = await options.deadLetters.list({
        ...(status !== undefined ? { status } : {}),
        ...(group !== undefined ? { group } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      return { items };
    },
  );

  app.post(
    '/v1/admin/dead-letters/:id/redrive',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: 'Sends a parked message back to the group that failed it',
        security: [{ adminKey: [] }],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: {
          200: DeadLetterSchema,
          ...Unauthorized,
          404: problemResponse('No such dead letter'),
          409: problemResponse('Already re-driven'),
        },
      },
    },
    async (request) => {
      const letter = await options.redrive(request.params.id);
      await recordOperatorAction(options.store, deadLetterRedrivenAction(letter, 'http'));
      return letter;
    },
  );
}

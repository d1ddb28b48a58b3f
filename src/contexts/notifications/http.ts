import { Type } from '@sinclair/typebox';
import { randomBytes } from 'node:crypto';
import type { EventStore } from '../../event-store/index.ts';
import { createAdminAuth, problemResponse, type HttpServer } from '../../kernel/http/index.ts';
import { AppError, ERROR_CODES, ValidationError } from '../../kernel/errors.ts';
import {
  VENDOR_WEBHOOK_REGISTERED,
  VENDOR_WEBHOOK_REMOVED,
  vendorWebhookStreamId,
  type VendorWebhookRegisteredData,
  type VendorWebhookRemovedData,
} from './domain/vendor-webhooks.ts';
import { SECRET_PATTERN, secretOfKey } from '../../kernel/webhooks/webhook-signature.ts';
import type { VendorWebhookEndpoints } from './vendor-webhook-endpoints.ts';

export interface VendorWebhookHttpOptions {
  store: EventStore;
  endpoints: VendorWebhookEndpoints;
  adminKey: string;
  /** The vendors that exist: a webhook for anyone else is refused. */
  vendorIds: ReadonlySet<string>;
  now: () => Date;
  /** @default 32 random bytes */
  generateSecret?: () => string;
}

export const MAX_WEBHOOK_URL_LENGTH = 2048;

const VendorParams = Type.Object({ vendorId: Type.String({ minLength: 1, maxLength: 100 }) });

const RegisterWebhookBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: MAX_WEBHOOK_URL_LENGTH,
      description: 'Absolute http:// or https:// URL the signed webhooks are POSTed to',
    }),
    secret: Type.Optional(
      Type.String({
        pattern: SECRET_PATTERN,
        description:
          'Signing secret, `whsec_` + base64 of 24–96 bytes. Generated (and returned once) when absent.',
        'x-error': 'must be "whsec_" followed by the base64 of 24 to 96 bytes',
      }),
    ),
  },
  { additionalProperties: false },
);

const RegisteredWebhook = Type.Object({
  vendorId: Type.String(),
  url: Type.String(),
  secret: Type.Optional(
    Type.String({ description: 'The generated signing secret: shown this once, never again' }),
  ),
});

const WebhookView = Type.Object({
  vendorId: Type.String(),
  url: Type.String(),
  source: Type.Union([Type.Literal('vendor'), Type.Literal('default')], {
    description: '`vendor`: registered for this vendor; `default`: ORDERFLOW_VENDOR_WEBHOOK_URL',
  }),
});

const Unauthorized = {
  401: problemResponse('No admin key (send Authorization: Bearer <key>)'),
  403: problemResponse('Wrong admin key'),
};

function vendorNotFound(vendorId: string): AppError {
  return new AppError(ERROR_CODES.VENDOR_NOT_FOUND, `there is no vendor ${JSON.stringify(vendorId)}`);
}

function webhookNotFound(vendorId: string): AppError {
  return new AppError(
    ERROR_CODES.VENDOR_WEBHOOK_NOT_FOUND,
    `vendor ${JSON.stringify(vendorId)} has no webhook endpoint registered`,
  );
}

function checkWebhookUrl(text: string): void {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    const detail = 'must be an absolute http:// or https:// URL';
    throw new ValidationError(`the request body is invalid: /url ${detail}`, [{ pointer: '/url', detail }]);
  }
}

/**
 * `PUT|GET|DELETE /v1/admin/vendors/{vendorId}/webhook`: a vendor's webhook endpoint, behind the
 * admin key. Stored as events in `vendor-webhook-<vendorId>`; the secret is shown once, when
 * generated, and never by GET.
 */
export function registerVendorWebhookHttp(app: HttpServer, options: VendorWebhookHttpOptions): void {
  const { store, endpoints, vendorIds, now } = options;
  const authenticate = createAdminAuth(options.adminKey);
  const generateSecret = options.generateSecret ?? (() => secretOfKey(randomBytes(32)));

  const requireVendor = (vendorId: string): void => {
    if (!vendorIds.has(vendorId)) throw vendorNotFound(vendorId);
  };

  app.put(
    '/v1/admin/vendors/:vendorId/webhook',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: "Registers (or replaces) a vendor's webhook endpoint",
        description: [
          'Webhooks (order.confirmed, shipment.dispatched) are POSTed to the URL, signed the Standard Webhooks way',
          '(webhook-id, webhook-timestamp, webhook-signature; see docs/webhooks.md). Without `secret`, a new one is',
          'generated and returned in this answer only; a PUT without `secret` therefore also rotates it.',
        ].join(' '),
        security: [{ adminKey: [] }],
        params: VendorParams,
        body: RegisterWebhookBody,
        response: {
          201: { ...RegisteredWebhook, description: 'Registered' },
          200: { ...RegisteredWebhook, description: 'Replaced the endpoint the vendor had' },
          ...Unauthorized,
          404: problemResponse('No such vendor (VENDOR_NOT_FOUND)'),
          409: problemResponse('Changed concurrently by another request; try again'),
          422: problemResponse('Invalid URL or secret'),
        },
      },
    },
    async (request, reply) => {
      const { vendorId } = request.params;
      requireVendor(vendorId);
      const { url } = request.body;
      checkWebhookUrl(url);
      const generated = request.body.secret === undefined;
      const secret = request.body.secret ?? generateSecret();
      const { state, version } = await endpoints.load(vendorId);
      const data: VendorWebhookRegisteredData = { vendorId, url, secret, registeredAt: now().toISOString() };
      await store.append(
        vendorWebhookStreamId(vendorId),
        [{ type: VENDOR_WEBHOOK_REGISTERED, data, metadata: { context: 'notifications' } }],
        { expectedVersion: version },
      );
      return reply
        .code(state.endpoint === undefined ? 201 : 200)
        .send({ vendorId, url, ...(generated ? { secret } : {}) });
    },
  );

  app.get(
    '/v1/admin/vendors/:vendorId/webhook',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: "Where a vendor's webhooks go (never the secret)",
        security: [{ adminKey: [] }],
        params: VendorParams,
        response: {
          200: WebhookView,
          ...Unauthorized,
          404: problemResponse('No such vendor, or no endpoint for it (neither its own nor a default)'),
        },
      },
    },
    async (request) => {
      const { vendorId } = request.params;
      requireVendor(vendorId);
      const endpoint = await endpoints.resolve(vendorId);
      if (endpoint === undefined) throw webhookNotFound(vendorId);
      return { vendorId, url: endpoint.url, source: endpoint.source };
    },
  );

  app.delete(
    '/v1/admin/vendors/:vendorId/webhook',
    {
      onRequest: authenticate,
      schema: {
        tags: ['admin'],
        summary: "Removes a vendor's own webhook endpoint (the default, if configured, applies again)",
        security: [{ adminKey: [] }],
        params: VendorParams,
        response: {
          204: Type.Null({ description: 'Removed' }),
          ...Unauthorized,
          404: problemResponse('No such vendor, or it has no endpoint of its own'),
          409: problemResponse('Changed concurrently by another request; try again'),
        },
      },
    },
    async (request, reply) => {
      const { vendorId } = request.params;
      requireVendor(vendorId);
      const { state, version } = await endpoints.load(vendorId);
      if (state.endpoint === undefined) throw webhookNotFound(vendorId);
      const data: VendorWebhookRemovedData = { vendorId, removedAt: now().toISOString() };
      await store.append(
        vendorWebhookStreamId(vendorId),
        [{ type: VENDOR_WEBHOOK_REMOVED, data, metadata: { context: 'notifications' } }],
        { expectedVersion: version },
      );
      return reply.code(204).send(null);
    },
  );
}

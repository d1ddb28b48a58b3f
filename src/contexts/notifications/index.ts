// The notifications context's public surface: its messages, its stream naming and its module.
import type { Catalog, DemoMarketplace } from '../catalog/index.ts';
import type { ContextModule, ModuleDependencies, RetryPolicyOptions } from '../../messaging/index.ts';
import { NOTIFICATION_MESSAGES } from './messages.ts';
import { notificationHandlers } from './handlers.ts';
import { registerVendorWebhookHttp } from './http.ts';
import { createMailDropMailer, createSmtpMailer, type Mailer } from './mailer.ts';
import { createVendorWebhookEndpoints } from './vendor-webhook-endpoints.ts';

export {
  CustomerNotified,
  DeliverWebhook,
  NOTIFICATION_MESSAGES,
  VendorNotified,
  type CustomerNotifiedData,
  type DeliverWebhookData,
  type VendorNotifiedData,
} from './messages.ts';
export { notificationStreamId } from './domain/notification.ts';
export { customerAddress, TEMPLATES, type Template } from './domain/templates.ts';
export { deriveVendorSecret, signWebhook, verifyWebhook } from '../../kernel/webhooks/webhook-signature.ts';
export { vendorWebhookStreamId, WEBHOOK_EVENTS } from './domain/vendor-webhooks.ts';
export { NOTIFICATIONS_GROUP, NOTIFICATIONS_RETRY_POLICY } from './handlers.ts';
export { mailDropFile, type Mailer } from './mailer.ts';

/** The mail drop's folder under the data dir. */
export const MAIL_DIR_NAME = 'mail';

export interface NotificationsModuleDependencies extends ModuleDependencies {
  readonly catalog: Catalog;
  /** Its vendors may register webhook endpoints, with the catalog's. */
  readonly marketplace: DemoMarketplace;
}

/** Settings (from the configuration) and test seams. */
export interface NotificationsModuleOptions {
  /** ORDERFLOW_SMTP_URL: send e-mails over SMTP instead of to the mail drop. */
  smtpUrl?: string | undefined;
  /** The mail drop's folder, `<dataDir>/mail/` (used without smtpUrl). */
  mailDir: string;
  /** ORDERFLOW_VENDOR_WEBHOOK_URL: where vendors without an endpoint of their own are called. */
  vendorWebhookUrl?: string | undefined;
  /** ORDERFLOW_WEBHOOK_TIMEOUT_MS */
  webhookTimeoutMs: number;
  /** Overrides the group's retry policy (8 attempts, 1 s initial, 5 min max). */
  retry?: Partial<RetryPolicyOptions>;
  /** Where e-mails go. @default SMTP when smtpUrl is set, else the mail drop in mailDir */
  mailer?: Mailer;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default 32 random bytes as `whsec_…` */
  generateSecret?: () => string;
}

/**
 * The notifications module: customer e-mails (mail drop or SMTP) and signed vendor webhooks on the
 * order's lifecycle events, and the admin routes of vendors' webhook endpoints.
 */
export function createNotificationsModule(
  deps: NotificationsModuleDependencies,
  options: NotificationsModuleOptions,
): ContextModule {
  const { store } = deps;
  const { smtpUrl, vendorWebhookUrl, webhookTimeoutMs } = options;
  const mailer =
    options.mailer ??
    (smtpUrl !== undefined
      ? createSmtpMailer({ url: smtpUrl })
      : createMailDropMailer({ dir: options.mailDir }));
  const endpoints = createVendorWebhookEndpoints({
    store,
    defaultUrl: vendorWebhookUrl,
    adminKey: deps.adminKey,
  });
  const vendorIds = new Set([
    ...deps.marketplace.vendors.map((vendor) => vendor.vendorId),
    ...deps.catalog.list().map((product) => product.vendorId),
  ]);

  return {
    name: 'notifications',
    role: 'notifications',
    messages: NOTIFICATION_MESSAGES,
    handlerGroups: [
      notificationHandlers({
        store,
        mailer,
        endpoints,
        webhookTimeoutMs,
        ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
        ...(options.retry !== undefined ? { retry: options.retry } : {}),
      }),
    ],
    registerHttp(http) {
      registerVendorWebhookHttp(http, {
        store,
        endpoints,
        adminKey: deps.adminKey,
        vendorIds,
        now: deps.now,
        ...(options.generateSecret !== undefined ? { generateSecret: options.generateSecret } : {}),
      });
    },
    async start() {
      deps.logger.info(
        {
          mail: mailer.description,
          defaultWebhook: vendorWebhookUrl === undefined ? 'none' : new URL(vendorWebhookUrl).origin,
        },
        'notifications: customer e-mails and vendor webhooks',
      );
    },
    async stop() {
      mailer.close();
    },
  };
}

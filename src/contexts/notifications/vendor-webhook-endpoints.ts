import { createAggregateLoader, type EventStore, type LoadedAggregate } from '../../event-store/index.ts';
import {
  evolveVendorWebhook,
  INITIAL_VENDOR_WEBHOOK_STATE,
  vendorWebhookStreamId,
  type VendorWebhookState,
} from './domain/vendor-webhooks.ts';
import { deriveVendorSecret } from '../../kernel/webhooks/webhook-signature.ts';

export interface ResolvedEndpoint {
  readonly url: string;
  /** `whsec_…` */
  readonly secret: string;
  /** `vendor`: registered through the admin API; `default`: ORDERFLOW_VENDOR_WEBHOOK_URL. */
  readonly source: 'vendor' | 'default';
}

/** Where a vendor's webhooks go: its own registered endpoint, else the configured default, else nowhere. */
export interface VendorWebhookEndpoints {
  load(vendorId: string): Promise<LoadedAggregate<VendorWebhookState>>;
  resolve(vendorId: string): Promise<ResolvedEndpoint | undefined>;
}

export interface VendorWebhookEndpointsOptions {
  store: EventStore;
  /** ORDERFLOW_VENDOR_WEBHOOK_URL */
  defaultUrl: string | undefined;
  /** Derives the default endpoint's per-vendor secrets. */
  adminKey: string;
}

export function createVendorWebhookEndpoints(options: VendorWebhookEndpointsOptions): VendorWebhookEndpoints {
  const { defaultUrl, adminKey } = options;
  const loader = createAggregateLoader<VendorWebhookState>({
    store: options.store,
    initial: () => INITIAL_VENDOR_WEBHOOK_STATE,
    evolve: evolveVendorWebhook,
  });
  const derived = new Map<string, string>();

  const load = (vendorId: string) => loader.load(vendorWebhookStreamId(vendorId));

  return {
    load,
    async resolve(vendorId) {
      const { state } = await load(vendorId);
      if (state.endpoint !== undefined) return { ...state.endpoint, source: 'vendor' };
      if (defaultUrl === undefined) return undefined;
      let secret = derived.get(vendorId);
      if (secret === undefined) {
        secret = deriveVendorSecret(adminKey, vendorId);
        derived.set(vendorId, secret);
      }
      return { url: defaultUrl, secret, source: 'default' };
    },
  };
}

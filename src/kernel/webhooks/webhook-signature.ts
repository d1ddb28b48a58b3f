import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidOptionsError } from '../errors.ts';

/**
 * Webhook signatures, Standard Webhooks style (https://www.standardwebhooks.com): a secret is
 * `whsec_<base64 key>`; a webhook carries `webhook-id`, `webhook-timestamp` (unix seconds) and
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`. The id, the
 * timestamp and the exact body bytes are covered, so a receiver can reject replays (old
 * timestamps) and tampering, and dedupe by id. docs/webhooks.md has the receiver's recipe.
 */

export const SECRET_PREFIX = 'whsec_';
/** A secret: `whsec_` and the base64 of 24 to 96 bytes. */
export const SECRET_PATTERN = '^whsec_(?:[A-Za-z0-9+/]{4}){8,32}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

export function secretOfKey(key: Buffer): string {
  return `${SECRET_PREFIX}${key.toString('base64')}`;
}

/** The HMAC key of a `whsec_` secret: its base64 part, decoded. */
export function keyOfSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    // The value is a secret: only its length is shown.
    throw InvalidOptionsError.format(
      'secret',
      `must start with "${SECRET_PREFIX}" (got ${secret.length} characters without it, not shown)`,
    );
  }
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/**
 * The secret of a vendor that uses the default endpoint (ORDERFLOW_VENDOR_WEBHOOK_URL): derived
 * from the admin key, HMAC-SHA256(adminKey, "webhook:" + vendorId), so that nothing needs storing
 * and the operator can tell each vendor its own.
 */
export function deriveVendorSecret(adminKey: string, vendorId: string): string {
  return deriveSecret(adminKey, `webhook:${vendorId}`);
}

/**
 * The incident webhook's secret (ORDERFLOW_INCIDENT_WEBHOOK_URL): HMAC-SHA256(adminKey,
 * "incident-webhook"), so the operator can configure the receiver without Orderflow storing it.
 */
export function deriveIncidentWebhookSecret(adminKey: string): string {
  return deriveSecret(adminKey, 'incident-webhook');
}

function deriveSecret(adminKey: string, purpose: string): string {
  return secretOfKey(createHmac('sha256', adminKey).update(purpose, 'utf8').digest());
}

/** The `webhook-signature` header value. */
export function signWebhook(secret: string, webhookId: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', keyOfSecret(secret)).update(`${webhookId}.${timestamp}.${body}`, 'utf8');
  return `v1,${mac.digest('base64')}`;
}

/**
 * Checks a received webhook: one of the space-separated `v1,` signatures matches, and the timestamp
 * is within `toleranceSeconds` of `nowSeconds`.
 */
export function verifyWebhook(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  options: { nowSeconds: number; toleranceSeconds?: number },
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp)) return false;
  if (Math.abs(options.nowSeconds - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, headers.id, timestamp, body).slice(3), 'base64');
  return headers.signature.split(' ').some((candidate) => {
    if (!candidate.startsWith('v1,')) return false;
    const given = Buffer.from(candidate.slice(3), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

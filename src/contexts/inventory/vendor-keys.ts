import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';

/**
 * Vendor keys: each vendor's bearer key for the vendor API is derived from the admin key,
 * `hex(HMAC-SHA256(adminKey, "vendor:" + vendorId))`, so nothing is stored, every process derives
 * the same keys, and rotating the admin key rotates them all. An operator hands a vendor its key
 * (`GET /v1/admin/vendors/{vendorId}/key`).
 */
export function vendorKey(adminKey: string, vendorId: string): string {
  return createHmac('sha256', adminKey).update(`vendor:${vendorId}`, 'utf8').digest('hex');
}

/** Who a bearer key belongs to, for one vendor's endpoint. */
export type VendorCaller = 'admin' | 'vendor';

/**
 * Checks `Authorization: Bearer <key>` for an endpoint of `vendorId`: the admin key or that vendor's
 * own key. 401 without a bearer key, 403 with any other key (another vendor's included). Keys are
 * compared as SHA-256 digests with `timingSafeEqual`, both comparisons always made, so the timing
 * says nothing about the key.
 */
export function createVendorAuth(
  adminKey: string,
  vendorIds: readonly string[],
): (authorization: string | undefined, vendorId: string) => VendorCaller {
  const adminDigest = digest(adminKey);
  const vendorDigests = new Map(vendorIds.map((id) => [id, digest(vendorKey(adminKey, id))]));
  // Compared against for an unknown vendor, so that the work done does not depend on the vendor.
  const nobody = digest(`no vendor:${adminKey}`);
  return (authorization, vendorId) => {
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) {
      throw new AppError(
        ERROR_CODES.UNAUTHORIZED,
        'send the vendor key (or the admin key) as "Authorization: Bearer <key>"',
      );
    }
    const presented = digest(match[1]!);
    const isAdmin = timingSafeEqual(presented, adminDigest);
    const vendorDigest = vendorDigests.get(vendorId);
    const isVendor = timingSafeEqual(presented, vendorDigest ?? nobody) && vendorDigest !== undefined;
    if (isAdmin) return 'admin';
    if (isVendor) return 'vendor';
    throw new AppError(ERROR_CODES.FORBIDDEN, `the key is not valid for vendor ${vendorId}`);
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

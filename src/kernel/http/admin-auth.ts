import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError, ERROR_CODES } from '../errors.ts';

/**
 * Bearer-key authentication for admin endpoints: 401 without credentials, 403 with a wrong key.
 * Keys are compared as SHA-256 digests with `timingSafeEqual`: equal lengths, constant time, so the
 * answer's timing says nothing about how much of a guess was right.
 */
export function createAdminAuth(adminKey: string): (request: FastifyRequest) => Promise<void> {
  const expected = digest(adminKey);
  return async (request) => {
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new AppError(ERROR_CODES.UNAUTHORIZED, 'send the admin key as "Authorization: Bearer <key>"');
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      throw new AppError(ERROR_CODES.FORBIDDEN, 'the key is not valid for this endpoint');
    }
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

import { AppError, ERROR_CODES, type AppErrorOptions } from '../../kernel/errors.ts';

/**
 * The payment gateway port: the outside provider that holds, takes and gives back money.
 *
 * Semantics every adapter keeps (the built-in simulator proves them in its integration tests):
 * - Every call carries an idempotency key. The first call with a key decides; every later call with
 *   the same key answers that first result (a timeout included) and never moves money again. A key
 *   reused with a different request is refused with `GatewayRequestRefusedError`.
 * - Keys name the payment they belong to by prefix: `<paymentId>:authorize:<attempt>`,
 *   `<paymentId>:capture`, `<paymentId>:void`, `<paymentId>:refund:<n>`.
 * - `authorize` answers `declined` for a card the provider refuses: that is a business outcome, not
 *   an error.
 * - `GatewayTimeoutError`: the call did not answer within the timeout; the operation may or may not
 *   have happened, so repeat it with the same key to learn its result.
 * - `GatewayUnavailableError`: transient failure before anything happened; retry (same key).
 * - `GatewayRequestRefusedError`: the provider refuses the request as such (capture above the
 *   authorized amount, void after capture, refund above the captured amount); retrying cannot help.
 * - `close()` waits for calls in flight to be recorded, then releases the connection; calls after it
 *   fail with `GatewayUnavailableError`.
 */
export interface PaymentGateway {
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  capture(request: CaptureRequest): Promise<CaptureResult>;
  void(request: VoidRequest): Promise<void>;
  refund(request: RefundRequest): Promise<RefundResult>;
  close(): Promise<void>;
}

export interface AuthorizeRequest {
  idempotencyKey: string;
  /** Integer minor units of `currency`. */
  amount: number;
  currency: string;
  /** The card, as tokenized by the provider. */
  token: string;
}

export type AuthorizeResult =
  { outcome: 'approved'; authorizationId: string } | { outcome: 'declined'; code: string; detail: string };

export interface CaptureRequest {
  idempotencyKey: string;
  authorizationId: string;
  /** Integer minor units; at most the authorized amount. */
  amount: number;
}

export interface CaptureResult {
  captureId: string;
}

export interface VoidRequest {
  idempotencyKey: string;
  authorizationId: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  captureId: string;
  /** Integer minor units; at most what was captured and not refunded yet. */
  amount: number;
}

export interface RefundResult {
  refundId: string;
}

/** The gateway did not answer within the timeout. Retryable: repeat with the same key. */
export class GatewayTimeoutError extends AppError {
  override name = 'GatewayTimeoutError';
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number, options: AppErrorOptions = {}) {
    super(
      ERROR_CODES.GATEWAY_TIMEOUT,
      `the payment gateway did not answer the ${operation} within ${timeoutMs} ms`,
      { ...options, retryable: true, details: { operation, timeoutMs, ...options.details } },
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The gateway failed transiently before doing anything. Retryable. */
export class GatewayUnavailableError extends AppError {
  override name = 'GatewayUnavailableError';
  constructor(message: string, options: AppErrorOptions = {}) {
    super(ERROR_CODES.GATEWAY_UNAVAILABLE, message, { ...options, retryable: true });
  }
}

/** The gateway refuses the request as such; retrying cannot help. */
export class GatewayRequestRefusedError extends AppError {
  override name = 'GatewayRequestRefusedError';
  constructor(message: string, options: AppErrorOptions = {}) {
    super(ERROR_CODES.GATEWAY_REQUEST_REFUSED, message, { ...options, retryable: false });
  }
}

export function isGatewayTimeoutError(error: unknown): error is GatewayTimeoutError {
  return error instanceof GatewayTimeoutError;
}

/** The idempotency keys Orderflow uses per payment (documented on the port). */
export const gatewayKeys = {
  authorize: (paymentId: string, attempt: number): string => `${paymentId}:authorize:${attempt}`,
  capture: (paymentId: string): string => `${paymentId}:capture`,
  void: (paymentId: string): string => `${paymentId}:void`,
  refund: (paymentId: string, sequence: number): string => `${paymentId}:refund:${sequence}`,
} as const;

/** The payment a key belongs to: the key without its `:<operation>[:<n>]` suffix. */
export function paymentRefOfKey(idempotencyKey: string): string {
  const match = /^(.+):(?:authorize|capture|void|refund)(?::[^:]*)?$/.exec(idempotencyKey);
  return match?.[1] ?? idempotencyKey;
}

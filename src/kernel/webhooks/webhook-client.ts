import { AppError, ERROR_CODES } from '../errors.ts';
import { signWebhook } from './webhook-signature.ts';

export interface WebhookRequest {
  url: string;
  /** `whsec_…` */
  secret: string;
  /** `webhook-id`: the same on every attempt, so that the receiver can dedupe. */
  webhookId: string;
  /** `webhook-timestamp`: unix seconds of this attempt. */
  timestamp: number;
  body: string;
}

export interface WebhookClientOptions {
  /** Per attempt. @default 5000 (ORDERFLOW_WEBHOOK_TIMEOUT_MS) */
  timeoutMs: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default 'Orderflow-Webhooks/1' */
  userAgent?: string;
}

/**
 * POSTs one signed webhook and answers the endpoint's 2xx status. Anything else (another status,
 * a timeout, a network error) throws a retryable WEBHOOK_DELIVERY_FAILED: the consumer tries again
 * with backoff, then dead-letters the delivery. Redirects are not followed (a POST is not replayed
 * elsewhere); the answer's body is not read.
 */
export async function postWebhook(request: WebhookRequest, options: WebhookClientOptions): Promise<number> {
  const fetchFn = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await fetchFn(request.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': options.userAgent ?? 'Orderflow-Webhooks/1',
        'webhook-id': request.webhookId,
        'webhook-timestamp': String(request.timestamp),
        'webhook-signature': signWebhook(request.secret, request.webhookId, request.timestamp, request.body),
      },
      body: request.body,
    });
  } catch (error) {
    const reason =
      error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
        ? `no answer within ${options.timeoutMs} ms`
        : describeNetworkError(error);
    throw new AppError(
      ERROR_CODES.WEBHOOK_DELIVERY_FAILED,
      `webhook ${request.webhookId} to ${originOf(request.url)}: ${reason}`,
      {
        cause: error,
        details: { webhookId: request.webhookId },
      },
    );
  }
  // Not read: the status is the answer. Cancelling frees the connection at once.
  await response.body?.cancel().catch(() => undefined);
  if (response.status < 200 || response.status > 299) {
    throw new AppError(
      ERROR_CODES.WEBHOOK_DELIVERY_FAILED,
      `webhook ${request.webhookId} to ${originOf(request.url)}: the endpoint answered ${response.status}`,
      { details: { webhookId: request.webhookId, status: response.status } },
    );
  }
  return response.status;
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici puts the useful part (ECONNREFUSED, ENOTFOUND…) in the cause.
  const cause = error.cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}

/** Logs and dead letters show where, not the whole URL (which may carry a token). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}

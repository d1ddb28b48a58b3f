import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A vendor's webhook endpoint (ORDERFLOW_VENDOR_WEBHOOK_URL) that records every delivery's webhook-id. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hooks`. */
  readonly url: string;
  /** The webhook-id of every delivery, repeats included, in arrival order. */
  readonly deliveries: string[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const deliveries: string[] = [];
  const server = http.createServer((request, response) => {
    const id = request.headers['webhook-id'];
    request.resume();
    request.on('end', () => {
      if (typeof id === 'string') deliveries.push(id);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    deliveries,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { deriveIncidentWebhookSecret, verifyWebhook } from '../../src/kernel/webhooks/webhook-signature.ts';

/** One POST the incident webhook received, with whether its signature checked out. */
export interface IncidentWebhookDelivery {
  webhookId: string;
  signed: boolean;
  body: {
    event_action: string;
    dedup_key: string;
    payload: { severity: string; summary: string; custom_details: Record<string, unknown> };
  };
}

/** An on-call tool's endpoint (ORDERFLOW_INCIDENT_WEBHOOK_URL): records deliveries, checks signatures. */
export interface IncidentWebhookReceiver {
  readonly url: string;
  /** Every delivery, repeats included, in arrival order. */
  readonly deliveries: IncidentWebhookDelivery[];
  /** Deliveries with distinct webhook ids (what a receiver that dedupes sees). */
  unique(): IncidentWebhookDelivery[];
  close(): Promise<void>;
}

export async function startIncidentWebhookReceiver(adminKey: string): Promise<IncidentWebhookReceiver> {
  const secret = deriveIncidentWebhookSecret(adminKey);
  const deliveries: IncidentWebhookDelivery[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const header = (name: string): string => String(request.headers[name] ?? '');
      const signed = verifyWebhook(
        secret,
        {
          id: header('webhook-id'),
          timestamp: header('webhook-timestamp'),
          signature: header('webhook-signature'),
        },
        text,
        { nowSeconds: Math.floor(Date.now() / 1000) },
      );
      deliveries.push({
        webhookId: header('webhook-id'),
        signed,
        body: JSON.parse(text) as IncidentWebhookDelivery['body'],
      });
      response.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`,
    deliveries,
    unique: () => [...new Map(deliveries.map((d) => [d.webhookId, d])).values()],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

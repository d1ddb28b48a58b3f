import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { evolveNotification, INITIAL_NOTIFICATION_STATE } from './notification.ts';
import {
  customerAddress,
  fileSafe,
  messageIdOf,
  orderCancelledEmail,
  orderConfirmedEmail,
  orderRejectedEmail,
  shipmentDispatchedEmail,
  type OrderConfirmedView,
} from './templates.ts';
import {
  evolveVendorWebhook,
  INITIAL_VENDOR_WEBHOOK_STATE,
  orderConfirmedWebhook,
  shipmentDispatchedWebhook,
  vendorsOf,
  webhookBody,
} from './vendor-webhooks.ts';
import {
  deriveVendorSecret,
  SECRET_PATTERN,
  signWebhook,
  verifyWebhook,
} from '../../../kernel/webhooks/webhook-signature.ts';

const AT = '2026-03-01T10:15:30.123Z';
const ORDER: OrderConfirmedView = {
  orderId: 'o-1',
  customerId: 'cust-42',
  region: 'EU',
  currency: 'USD',
  total: 18900 + 2 * 3450,
  items: [
    {
      sku: 'NW-TENT-2P',
      name: 'Two-person trekking tent',
      quantity: 1,
      unitPrice: 18900,
      lineTotal: 18900,
      vendorId: 'northwind',
    },
    {
      sku: 'KC-PRESS-8C',
      name: 'French press, 8 cups',
      quantity: 2,
      unitPrice: 3450,
      lineTotal: 6900,
      vendorId: 'kettle',
    },
  ],
};

describe('customer e-mails', () => {
  it('addresses the demo customer by id, keeping only what a local part may hold', () => {
    expect(customerAddress('cust-42')).toBe('cust-42@customers.orderflow.example');
    expect(customerAddress('Jane Doe <x>')).toBe('Jane-Doe--x-@customers.orderflow.example');
    expect(customerAddress('..a..b..')).toBe('a.b@customers.orderflow.example');
    expect(customerAddress('@@@'.replace(/@/g, '.'))).toBe('customer@customers.orderflow.example');
  });

  it('renders the confirmation with order id, status, lines and total, in text and HTML, under a deterministic id', () => {
    const email = orderConfirmedEmail(ORDER, AT);
    expect(email).toMatchObject({
      notificationId: 'o-1:order_confirmed',
      template: 'order_confirmed',
      to: 'cust-42@customers.orderflow.example',
      subject: 'Your order o-1 is confirmed',
      messageId: '<o-1_order_confirmed@notifications.orderflow.example>',
      date: AT,
    });
    for (const part of [email.text, email.html]) {
      expect(part).toContain('o-1');
      expect(part).toContain('confirmed');
      expect(part).toContain('Two-person trekking tent');
      expect(part).toContain('189.00 USD');
      expect(part).toContain('Total: 258.00 USD');
    }
    expect(email.text).toContain('2 × French press, 8 cups (KC-PRESS-8C): 69.00 USD');
    expect(orderConfirmedEmail(ORDER, AT)).toEqual(email);
  });

  it('says why an order was rejected or cancelled, and escapes what it puts in HTML', () => {
    const rejected = orderRejectedEmail(
      { orderId: 'o-2', customerId: 'c', reason: 'payment_declined', detail: 'x' },
      AT,
    );
    expect(rejected.notificationId).toBe('o-2:order_rejected');
    expect(rejected.text).toContain('the payment was declined');
    expect(rejected.text).toContain('reason: payment_declined');
    const cancelled = orderCancelledEmail(
      { orderId: 'o-<3>', customerId: 'c', reason: 'customer_request', detail: '' },
      AT,
    );
    expect(cancelled.text).toContain('cancelled (reason: customer_request)');
    expect(cancelled.html).toContain('o-&lt;3&gt;');
    expect(cancelled.html).not.toContain('o-<3>');
  });

  it('gives each parcel its own e-mail, with the carrier and tracking number', () => {
    const shipment = {
      orderId: 'o-1',
      shipmentId: 'o-1:northwind:wh-northwind-eu',
      vendorId: 'northwind',
      warehouseId: 'wh-northwind-eu',
      carrier: 'Sandbox Parcel EU',
      trackingNumber: 'SPEU0123456789AB',
    };
    const email = shipmentDispatchedEmail(shipment, 'cust-42@customers.orderflow.example', AT);
    expect(email.notificationId).toBe('o-1:shipment_dispatched:northwind:wh-northwind-eu');
    expect(fileSafe(email.notificationId)).toBe('o-1_shipment_dispatched_northwind_wh-northwind-eu');
    expect(messageIdOf(email.notificationId)).toBe(
      '<o-1_shipment_dispatched_northwind_wh-northwind-eu@notifications.orderflow.example>',
    );
    expect(email.text).toContain('Tracking number: SPEU0123456789AB');
    expect(email.html).toContain('Sandbox Parcel EU');
  });

  it('remembers which notifications were sent and to whom, without touching the state it was given', () => {
    const first = evolveNotification(INITIAL_NOTIFICATION_STATE, {
      type: 'CustomerNotified',
      data: {
        orderId: 'o-1',
        notificationId: 'o-1:order_confirmed',
        template: 'order_confirmed',
        channel: 'email',
        to: 'a@b',
      },
    });
    const second = evolveNotification(first, {
      type: 'VendorNotified',
      data: {
        orderId: 'o-1',
        vendorId: 'v',
        notificationId: 'o-1:order.confirmed:v',
        event: 'order.confirmed',
        url: 'u',
        status: 200,
        attempts: 1,
      },
    });
    expect([...second.sent]).toEqual(['o-1:order_confirmed', 'o-1:order.confirmed:v']);
    expect(second.recipient).toBe('a@b');
    expect([...first.sent]).toEqual(['o-1:order_confirmed']);
    expect(INITIAL_NOTIFICATION_STATE.sent.size).toBe(0);
  });
});

describe('vendor webhooks', () => {
  it("plans one order.confirmed per vendor, with only that vendor's lines in major units", () => {
    expect(vendorsOf(ORDER)).toEqual(['northwind', 'kettle']);
    const webhook = orderConfirmedWebhook(ORDER, 'kettle', AT);
    expect(webhook).toEqual({
      orderId: 'o-1',
      vendorId: 'kettle',
      notificationId: 'o-1:order.confirmed:kettle',
      event: 'order.confirmed',
      occurredAt: AT,
      data: {
        orderId: 'o-1',
        vendorId: 'kettle',
        region: 'EU',
        currency: 'USD',
        lines: [
          { sku: 'KC-PRESS-8C', name: 'French press, 8 cups', quantity: 2, unitPrice: 34.5, lineTotal: 69 },
        ],
      },
    });
    expect(JSON.parse(webhookBody(webhook))).toEqual({
      type: 'order.confirmed',
      timestamp: AT,
      data: webhook.data,
    });
  });

  it('gives each shipment of a vendor its own webhook id', () => {
    const shipment = (warehouseId: string) =>
      shipmentDispatchedWebhook(
        {
          orderId: 'o-1',
          shipmentId: `o-1:northwind:${warehouseId}`,
          vendorId: 'northwind',
          warehouseId,
          carrier: 'c',
          trackingNumber: 't',
          reservationIds: ['o-1:0'],
        },
        AT,
      );
    expect(shipment('wh-a').notificationId).toBe('o-1:shipment.dispatched:northwind:wh-a');
    expect(shipment('wh-b').notificationId).not.toBe(shipment('wh-a').notificationId);
    expect(shipment('wh-a').data).toMatchObject({ trackingNumber: 't', reservationIds: ['o-1:0'] });
  });

  it('keeps the endpoint a vendor registered until it is removed', () => {
    const registered = evolveVendorWebhook(INITIAL_VENDOR_WEBHOOK_STATE, {
      type: 'VendorWebhookRegistered',
      data: { vendorId: 'v', url: 'https://v.example/hook', secret: 'whsec_x', registeredAt: AT },
    });
    expect(registered.endpoint).toEqual({ url: 'https://v.example/hook', secret: 'whsec_x' });
    expect(
      evolveVendorWebhook(registered, {
        type: 'VendorWebhookRemoved',
        data: { vendorId: 'v', removedAt: AT },
      }),
    ).toEqual({});
  });
});

describe('webhook signatures (Standard Webhooks)', () => {
  it('matches the Standard Webhooks reference vector', () => {
    expect(
      signWebhook(
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'msg_p5jXN8AQM9LWM0D4loKWxJek',
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('verifies its own signature, and refuses a changed body, id or timestamp, and an old timestamp', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const signature = signWebhook(secret, 'id-1', 1000, '{"a":1}');
    const headers = { id: 'id-1', timestamp: '1000', signature };
    expect(verifyWebhook(secret, headers, '{"a":1}', { nowSeconds: 1010 })).toBe(true);
    expect(
      verifyWebhook(secret, { ...headers, signature: `v1,bogus ${signature}` }, '{"a":1}', {
        nowSeconds: 1010,
      }),
    ).toBe(true);
    expect(verifyWebhook(secret, headers, '{"a":2}', { nowSeconds: 1010 })).toBe(false);
    expect(verifyWebhook(secret, { ...headers, id: 'id-2' }, '{"a":1}', { nowSeconds: 1010 })).toBe(false);
    expect(verifyWebhook(secret, { ...headers, timestamp: '1001' }, '{"a":1}', { nowSeconds: 1010 })).toBe(
      false,
    );
    expect(verifyWebhook(secret, headers, '{"a":1}', { nowSeconds: 1000 + 301 })).toBe(false);
  });

  it("derives a default endpoint's per-vendor secret as HMAC-SHA256(adminKey, 'webhook:' + vendorId)", () => {
    const secret = deriveVendorSecret('the-admin-key-0123456789', 'northwind');
    const key = createHmac('sha256', 'the-admin-key-0123456789').update('webhook:northwind').digest();
    expect(secret).toBe(`whsec_${key.toString('base64')}`);
    expect(secret).toMatch(new RegExp(SECRET_PATTERN));
    expect(deriveVendorSecret('the-admin-key-0123456789', 'kettle')).not.toBe(secret);
  });

  it('accepts secrets of 24 to 96 bytes in whsec_ form only', () => {
    const pattern = new RegExp(SECRET_PATTERN);
    const of = (bytes: number) => `whsec_${Buffer.alloc(bytes, 7).toString('base64')}`;
    expect(pattern.test(of(24))).toBe(true);
    expect(pattern.test(of(32))).toBe(true);
    expect(pattern.test(of(64))).toBe(true);
    expect(pattern.test(of(96))).toBe(true);
    expect(pattern.test(of(16))).toBe(false);
    expect(pattern.test(of(120))).toBe(false);
    expect(pattern.test('plain-secret-without-prefix-0123456789')).toBe(false);
  });
});

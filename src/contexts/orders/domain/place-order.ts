import { Type, type Static } from '@sinclair/typebox';
import { ValidationError, type FieldError } from '../../../kernel/errors.ts';
import type { CatalogLookup } from '../../catalog/index.ts';
import {
  CurrencySchema,
  ORDER_PLACED,
  PaymentMethodSchema,
  RegionSchema,
  ShippingAddressSchema,
  type OrderEvent,
  type OrderLine,
} from '../messages.ts';

export const MAX_ORDER_LINES = 50;
export const MAX_LINE_QUANTITY = 999;

/** The PlaceOrder command: the body of POST /v1/orders (DESIGN.md §4). Prices never come from the client. */
export const PlaceOrderSchema = Type.Object(
  {
    customerId: Type.String({ minLength: 1, maxLength: 100 }),
    region: RegionSchema,
    currency: CurrencySchema,
    items: Type.Array(
      Type.Object(
        {
          sku: Type.String({ minLength: 1, maxLength: 64 }),
          quantity: Type.Integer({ minimum: 1, maximum: MAX_LINE_QUANTITY }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_ORDER_LINES, description: 'One line per SKU' },
    ),
    shippingAddress: ShippingAddressSchema,
    paymentMethod: PaymentMethodSchema,
  },
  { additionalProperties: false },
);
export type PlaceOrder = Static<typeof PlaceOrderSchema>;

export interface PlaceOrderContext {
  catalog: CatalogLookup;
  /** Derived from the idempotency key by the caller. */
  orderId: string;
  now: Date;
}

/**
 * Decides whether an order can be placed: every SKU is on sale, each appears on one line, and the
 * order's currency is the one its items are priced in. Prices, line totals and the total come from
 * the catalog. Pure: returns the OrderPlaced event, or a ValidationError naming every problem with
 * a JSON pointer into the command.
 */
export function placeOrder(command: PlaceOrder, context: PlaceOrderContext): OrderEvent | ValidationError {
  const errors: FieldError[] = [];
  const firstLineOfSku = new Map<string, number>();
  const lines: OrderLine[] = [];
  const mismatched: { index: number; currency: string }[] = [];
  let total = 0;

  command.items.forEach((item, index) => {
    const pointer = `/items/${index}/sku`;
    const first = firstLineOfSku.get(item.sku);
    if (first !== undefined) {
      errors.push({
        pointer,
        detail: `duplicates /items/${first}/sku; put the whole quantity of a SKU on one line`,
      });
      return;
    }
    firstLineOfSku.set(item.sku, index);
    const product = context.catalog.get(item.sku);
    if (product === undefined) {
      errors.push({ pointer, detail: `unknown SKU "${item.sku}": it is not in the catalog` });
      return;
    }
    if (product.currency !== command.currency) mismatched.push({ index, currency: product.currency });
    const lineTotal = product.unitPrice * item.quantity;
    total += lineTotal;
    lines.push({
      sku: product.sku,
      vendorId: product.vendorId,
      name: product.name,
      quantity: item.quantity,
      unitPrice: product.unitPrice,
      lineTotal,
    });
  });

  if (mismatched.length > 0) {
    const currencies = [...new Set(mismatched.map((m) => m.currency))];
    const allPricedIn =
      currencies.length === 1 && mismatched.length === lines.length ? currencies[0] : undefined;
    if (allPricedIn !== undefined) {
      errors.push({
        pointer: '/currency',
        detail: `must be ${allPricedIn}, the currency the items are priced in`,
      });
    } else {
      for (const { index, currency } of mismatched) {
        errors.push({
          pointer: `/items/${index}/sku`,
          detail: `is priced in ${currency}, not in the order's currency ${command.currency}; an order has one currency`,
        });
      }
    }
  }

  if (errors.length > 0) {
    errors.sort((a, b) => a.pointer.localeCompare(b.pointer, 'en', { numeric: true }));
    return new ValidationError(
      `the order cannot be placed: ${errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}`,
      errors,
    );
  }

  return {
    type: ORDER_PLACED,
    data: {
      orderId: context.orderId,
      customerId: command.customerId,
      region: command.region,
      currency: command.currency,
      items: lines,
      total,
      shippingAddress: { ...command.shippingAddress },
      paymentMethod: { token: command.paymentMethod.token },
      placedAt: context.now.toISOString(),
    },
  };
}

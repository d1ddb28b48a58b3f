import type { AggregateLoader, NewEvent } from '../../event-store/index.ts';
import type { Envelope, HandlerContext, HandlerGroup, MessageHandler } from '../../messaging/index.ts';
import { TerminalError } from '../../kernel/errors.ts';
import { decide, type StockCommand, type StockDecision } from './domain/decide.ts';
import {
  CommitStock,
  ConfirmReservation,
  ExpireReservation,
  ReleaseStock,
  ReserveStock,
  StockLevelChanged,
} from './messages.ts';
import {
  stockEventId,
  stockLevelChanges,
  stockStreamId,
  type StockEvent,
  type StockState,
} from './domain/stock.ts';

export const INVENTORY_GROUP = 'inventory';
export const INVENTORY_CONTEXT = 'inventory';

export interface InventoryHandlerOptions {
  /** Loads `stock-<sku>`; shared with the HTTP routes so a hot SKU is folded once. */
  loader: AggregateLoader<StockState>;
}

/**
 * The inventory's consumer group. Stock commands are partitioned by SKU, so the consumer runs one
 * SKU's commands one at a time: load (the loader's cache reads only the events since the last
 * load), decide, append at the loaded version. The expected version is still checked, because the
 * vendor API writes the same streams; a conflict is retried by the consumer on fresh state.
 */
export function inventoryHandlers(options: InventoryHandlerOptions): HandlerGroup {
  const { loader } = options;

  async function handle(command: StockCommand, sku: string, context: HandlerContext): Promise<void> {
    const streamId = stockStreamId(sku);
    const { state, version } = await loader.load(streamId);
    const now = context.now();
    const result = decide(state, command, now);
    if (result.kind === 'refusal') {
      // A command that contradicts the stock's history is a bug upstream: park it where an operator sees it.
      throw new TerminalError(`${command.type} refused: ${result.message}`, {
        details: { reason: result.reason, sku },
      });
    }
    apply(result, state, version, streamId, sku, now, context);
  }

  function apply(
    result: StockDecision,
    state: StockState,
    version: number,
    streamId: string,
    sku: string,
    now: Date,
    context: HandlerContext,
  ): void {
    if (result.events.length > 0) {
      context.append(streamId, result.events.map(toNewEvent), version);
      for (const level of stockLevelChanges(state, result.events)) {
        context.send({ type: StockLevelChanged.type, data: level, partitionKey: sku, subject: sku });
      }
    }
    for (const reply of result.replies) {
      const { orderId } = reply.data;
      context.send({
        type: reply.type,
        id: reply.id,
        data: reply.data,
        partitionKey: orderId,
        correlationId: orderId,
        subject: orderId,
      });
    }
    const { expire } = result;
    if (expire !== undefined) {
      context.schedule(
        {
          type: ExpireReservation.type,
          data: { orderId: expire.orderId, reservationId: expire.reservationId, sku },
          partitionKey: sku,
          correlationId: expire.orderId,
          subject: expire.orderId,
          // The first timer's id is deterministic; a timer set again needs a new one, or the inbox would drop it.
          ...(expire.first ? { id: `${expire.reservationId}:ExpireReservation` } : {}),
        },
        Date.parse(expire.at) - now.getTime(),
      );
    }
  }

  function on<T extends { sku: string }>(type: StockCommand['type']): MessageHandler<T> {
    return (message: Envelope<T>, context) =>
      handle({ type, data: message.data } as unknown as StockCommand, message.data.sku, context);
  }

  return {
    group: INVENTORY_GROUP,
    handlers: {
      [ReserveStock.type]: on('ReserveStock'),
      [ConfirmReservation.type]: on('ConfirmReservation'),
      [ReleaseStock.type]: on('ReleaseStock'),
      [ExpireReservation.type]: on('ExpireReservation'),
      [CommitStock.type]: on('CommitStock'),
    },
  };
}

export function toNewEvent(event: StockEvent): NewEvent {
  const id = stockEventId(event);
  return {
    ...(id !== undefined ? { id } : {}),
    type: event.type,
    data: event.data,
    metadata: { context: INVENTORY_CONTEXT },
  };
}

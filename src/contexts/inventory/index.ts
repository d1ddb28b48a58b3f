// The inventory context's public surface: its messages, its module, and the stock stream's naming.
export {
  CommitStock,
  ConfirmReservation,
  ExpireReservation,
  INVENTORY_MESSAGES,
  ReleaseStock,
  ReservationConfirmed,
  ReserveStock,
  StockCommitted,
  StockLevelChanged,
  StockReleased,
  StockReservationFailed,
  StockReserved,
  type CommitStockData,
  type ConfirmReservationData,
  type ExpireReservationData,
  type ReleaseStockData,
  type ReservationConfirmedData,
  type ReserveStockData,
  type StockCommittedData,
  type StockLevelChangedData,
  type StockReleasedData,
  type StockReservationFailedData,
  type StockReservedData,
} from './messages.ts';
export { stockStreamId, type InventoryView } from './domain/stock.ts';
export { INVENTORY_GROUP } from './handlers.ts';
export { createInventoryModule } from './inventory-module.ts';
export { vendorKey } from './vendor-keys.ts';

import type { Envelope } from '../../kernel/envelope.ts';

/**
 * Where messages go when a consumer gives up on them: after a terminal error, or after the retry
 * policy's last attempt. Each entry keeps the message, the group that failed, the last error and the
 * attempt count, so an operator can see why and re-drive it once the cause is fixed.
 *
 * - `add` is idempotent per (group, message id) while the entry is parked: a crash between parking
 *   and acking, followed by the same failure, does not create a second entry.
 * - Entries are never deleted by the store; a re-driven entry keeps its history with status `redriven`.
 */
export interface DeadLetterStore {
  add(entry: NewDeadLetter): Promise<DeadLetter>;
  list(options?: ListDeadLettersOptions): Promise<DeadLetter[]>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Marks a parked entry as re-driven. Throws DEAD_LETTER_NOT_FOUND / DEAD_LETTER_ALREADY_REDRIVEN. */
  markRedriven(id: string): Promise<DeadLetter>;
  count(status?: DeadLetterStatus): Promise<number>;
}

export type DeadLetterStatus = 'parked' | 'redriven';

export interface DeadLetterError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export interface NewDeadLetter {
  group: string;
  message: Envelope;
  error: DeadLetterError;
  attempts: number;
}

export interface DeadLetter extends NewDeadLetter {
  id: string;
  status: DeadLetterStatus;
  deadLetteredAt: string;
  redrivenAt?: string;
}

export interface ListDeadLettersOptions {
  status?: DeadLetterStatus;
  group?: string;
  /** Default 100. */
  limit?: number;
}

import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import type { Transport } from '../transport.ts';
import type { DeadLetter, DeadLetterStore } from './dead-letter-store.ts';

export interface RedriveDeadLetterOptions {
  deadLetters: DeadLetterStore;
  transport: Transport;
}

/**
 * Sends a parked message again to the group that gave up on it, then marks the entry re-driven.
 * In that order: a crash in between leaves the entry parked, so at worst it is re-driven twice, and
 * the group's inbox drops the second copy. The other order could lose the message.
 */
export async function redriveDeadLetter(id: string, options: RedriveDeadLetterOptions): Promise<DeadLetter> {
  const { deadLetters, transport } = options;
  const entry = await deadLetters.get(id);
  if (entry === undefined) {
    throw new AppError(ERROR_CODES.DEAD_LETTER_NOT_FOUND, `dead letter ${id} not found`, {
      details: { id },
    });
  }
  if (entry.status === 'redriven') {
    throw new AppError(
      ERROR_CODES.DEAD_LETTER_ALREADY_REDRIVEN,
      `dead letter ${id} was already re-driven at ${entry.redrivenAt ?? 'an unknown time'}`,
      { details: { id, redrivenAt: entry.redrivenAt } },
    );
  }
  await transport.redeliver(entry.group, entry.message);
  return deadLetters.markRedriven(id);
}

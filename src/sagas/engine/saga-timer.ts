import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../../messaging/index.ts';

export const SagaTimerFiredData = Type.Object(
  {
    sagaId: Type.String(),
    /** The saga's definition name, e.g. `order`. */
    definition: Type.String(),
    /** The step (or the step being compensated) the timer guards. */
    step: Type.String(),
    /** The attempt of that step (or of its compensation) the timer was armed for. */
    attempt: Type.Integer({ minimum: 1 }),
    /** Whether it guards a compensation rather than the step's action. */
    compensation: Type.Boolean(),
    /** The saga's generation when the timer was armed: a timer whose generation is past is stale. */
    generation: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type SagaTimerFiredData = Static<typeof SagaTimerFiredData>;

/**
 * A saga step's deadline: scheduled as a durable timer (`ctx.schedule`) each time a step or a
 * compensation starts an attempt, partitioned by the saga id, so it survives restarts and reaches
 * the saga in order with the saga's replies. A firing for a step already done or for an older
 * attempt is ignored.
 */
export const SagaTimerFired = defineMessage({
  type: 'saga.SagaTimerFired',
  kind: 'event',
  schema: SagaTimerFiredData,
  description:
    "A saga step's (or compensation's) per-attempt deadline passed: the saga re-sends the step's commands, fails the step with reason `timeout`, or parks the saga as needs_attention. Stale firings are ignored. Partition key: saga id.",
});

import type { EventStore, NewEvent } from '../event-store/index.ts';
import { ALERT_STATE_CHANGED, ALERTS_STREAM } from './messages.ts';
import type { AlertStateName, Severity } from './incidents/incident.ts';

/**
 * The alert states as the operations role last recorded them: one `AlertStateChanged` per
 * transition in `operations-alerts`. A copy that becomes the evaluator resumes from it (so a
 * restart or a failover neither forgets a firing alert nor reports it twice), and processes
 * without the role answer `GET /v1/admin/alerts` from it.
 */
export interface RecordedAlertState {
  name: string;
  severity: Severity;
  group: string;
  state: AlertStateName;
  /** The transition's time (ISO). */
  since: string;
  value: number | null;
  /** When the condition started holding (pending began), epoch ms. */
  activeAt?: number;
  /** The last evaluation at which the condition held, epoch ms. */
  lastActiveAt?: number;
  /** The first evaluation of a firing alert whose condition stopped holding (keep_firing_for counts from it), epoch ms. */
  keepFiringSince?: number;
}

export interface AlertStateChangedData extends RecordedAlertState {
  from: AlertStateName;
}

export interface RecordedAlerts {
  /** The stream's version (expected version of the next append). */
  version: number;
  states: Map<string, RecordedAlertState>;
}

export async function readRecordedAlerts(store: EventStore): Promise<RecordedAlerts> {
  const states = new Map<string, RecordedAlertState>();
  let version = -1;
  for (let from = 0; ;) {
    const page = await store.readStream(ALERTS_STREAM, { fromVersion: from, maxCount: 1000 });
    for (const event of page) {
      const { from: _from, ...state } = event.data as AlertStateChangedData;
      states.set(state.name, state);
      version = event.version;
    }
    if (page.length < 1000) return { version, states };
    from = version + 1;
  }
}

export function alertStateChanged(data: AlertStateChangedData): NewEvent {
  return { type: ALERT_STATE_CHANGED, data, metadata: { correlationId: `alert-${data.name}` } };
}

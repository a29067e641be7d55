import type { ControlEvent, MoveRecord } from '../control/link.js';
import type { ResultRecord } from '../inspection/result.js';
import type { Channel } from './topics.js';

/** An alarm on `<base>/alarms`: raised (`active: true`) and cleared (`active: false`) with the same code. */
export interface AlarmRecord {
  at: string;
  code: string;
  severity: 'warning' | 'critical';
  active: boolean;
  message: string;
  /** what raised it: an arm id, a link id, "telemetry", ... */
  source?: string;
  [key: string]: unknown;
}

/** A model change on `<base>/events`: applied, or refused with the reason (the old model runs on). */
export interface ModelEvent {
  at: number;
  kind: 'model-changed' | 'model-refused';
  /** the model now scoring wafers, and for a change the one before it */
  model: string;
  from?: string;
  path: string;
  variant: string;
  reason: string;
}

export interface ChannelRecord {
  results: ResultRecord;
  alarms: AlarmRecord;
  moves: MoveRecord;
  events: ControlEvent | ModelEvent;
}

/** Records refused while the outbox was full: kept as one row in their place in the stream. */
export interface GapRecord {
  dropped: Partial<Record<Channel, number>>;
  first: { at: string; wafer?: string };
  last: { at: string; wafer?: string };
}

/** The alarm a gap is delivered as, in order between the records before and after it. */
export function gapAlarm(g: GapRecord): AlarmRecord {
  const counts = Object.entries(g.dropped)
    .map(([c, n]) => `${n} ${c}`)
    .join(', ');
  const wafers = g.first.wafer !== undefined ? ` (wafers ${g.first.wafer} .. ${g.last.wafer ?? g.first.wafer})` : '';
  return {
    at: g.last.at,
    code: 'outbox-overflow',
    severity: 'critical',
    active: true,
    source: 'telemetry',
    message: `outbox was full: ${counts} not kept between ${g.first.at} and ${g.last.at}${wafers}`,
    dropped: g.dropped,
    first: g.first,
    last: g.last,
  };
}

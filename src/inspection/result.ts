import type { Modality } from '../common/modality.js';
import type { ModalityStatus } from '../fusion/result.js';

/** One violation of a spec (contracts §5). */
export interface Finding {
  spec: string;
  class: string;
  xMm: number;
  yMm: number;
  sizeMm: number;
  /** the largest size the measurement allows (judge.ts, SIZE_SURE), where the station's size fit says how far sizes spread */
  sizeMaxMm?: number;
  /** normalised score: 0.5 is the spec's threshold */
  score: number;
}

export type Verdict = 'pass' | 'fail' | 'not-inspected';

/** The per-wafer result record (contracts §5): a results.jsonl line in replay, an MQTT payload live. */
export interface ResultRecord {
  wafer: string;
  lot: string | null;
  at: string;
  verdict: Verdict;
  modalities: Record<Modality, ModalityStatus>;
  findings: Finding[];
  reason: string | null;
  latencyMs: number;
  model: string;
}

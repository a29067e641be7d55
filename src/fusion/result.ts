import type { Affine } from '../common/affine.js';
import type { TruthDefect } from '../common/defects.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import type { FrameSet } from '../frames/frame.js';
import type { DiePlace } from './die-places.js';
import type { RimProfile } from './rim.js';

/** What became of each modality of a wafer: used (`ok`), absent from capture (`missing`), or present but unusable (`corrupt`). */
export type ModalityStatus = 'ok' | 'missing' | 'corrupt';

export interface FusedWafer {
  wafer: string;
  lot?: string;
  seq: number;
  atMs: number;
  arrivedAt: number;
  truth?: TruthDefect[];
  modalities: Record<Modality, ModalityStatus>;
  /** why a modality or the wafer could not be used, one readable line each */
  problems: string[];
  /** planar float32 tensor (see TENSOR_CHANNELS); null when nothing of the wafer could be used */
  tensor: Float32Array | null;
  /** kept when fusion is asked to (a model with a verifier) and the visible frame could be used */
  visible?: VisibleFrame;
  /** placesMs: the visible frame's rim traced and its dies compared, when it is handed on */
  timings: { decodeMs: number; fuseMs: number; placesMs: number };
}

/** A decoded visible frame (8-bit RGB, interleaved) and where its pixels lie on the wafer. */
export interface FramePixels {
  width: number;
  height: number;
  data: Uint8Array;
  pxToMm: Affine;
}

/** The visible frame as fusion hands it on: what a second look at fine detail crops from. */
export interface VisibleFrame extends FramePixels {
  /** the wafer's rim traced round the frame, against the station's wafer radius */
  rim: RimProfile;
  /**
   * where the frame differs most from its neighbouring dies (die-places.ts), most standing out first;
   * null where fusion did not compare them (the model in use when it was fused checks no die places)
   */
  dies: DiePlace[] | null;
}

/** A wafer's record: what capture said of it, and what fusion made of it. */
export function fusedWafer(set: FrameSet, made: Pick<FusedWafer, 'modalities' | 'problems' | 'tensor' | 'timings' | 'visible'>): FusedWafer {
  return { wafer: set.wafer, lot: set.lot, seq: set.seq, atMs: set.atMs, arrivedAt: set.arrivedAt, truth: set.truth, ...made };
}

/** The record of a wafer none of whose frames could be used, with the reason. */
export function unusableWafer(set: FrameSet, problem: string): FusedWafer {
  return fusedWafer(set, {
    modalities: Object.fromEntries(MODALITIES.map((m) => [m, 'corrupt'])) as FusedWafer['modalities'],
    problems: [problem],
    tensor: null,
    timings: { decodeMs: 0, fuseMs: 0, placesMs: 0 },
  });
}

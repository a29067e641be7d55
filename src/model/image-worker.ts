import * as ort from 'onnxruntime-node';
import { workerData } from 'node:worker_threads';
import { serveTasks } from '../common/worker-pool.js';
import { DieCompare, DIE_PLACES, type DiePlace } from '../fusion/die-places.js';
import type { VisibleFrame } from '../fusion/result.js';
import { localMaxima, mapNear } from './candidates.js';
import { lookAt, surest, type Crop } from './around.js';
import { cutCrops } from './crops.js';
import type { ModelManifest } from './manifest.js';
import { scoreMap } from './map.js';
import { rimPlaces } from './rim.js';
import { runVerifier } from './verify.js';
import { openSession, type SessionOptions } from './session.js';

/**
 * The image model in its own thread: onnxruntime's run() holds the thread that calls it, and the
 * event loop (MQTT, Modbus, the watchdog) must not wait on inference. A model with a verifier runs it
 * here too, on crops of each wafer's visible frame around its maps' peaks.
 */
export interface ImageBatch {
  /** per wafer its fused tensor (moved here, and moved back with the result for reuse) */
  tensors: Float32Array[];
  /** per wafer its visible frame, where the verifier is to look (moved here and dropped) */
  visible: Array<VisibleFrame | null>;
  queries: Float32Array;
  specs: number;
  /** per spec, the verifier's class index, or -1: judged on the map */
  verify: Int32Array;
}

/**
 * A place the verifier looked at: where a spec's map peaks (or, where the manifest looks around the
 * peak, where its surest crop was cut), wafer mm, the map's raw score at the peak, and what the crop shows.
 */
export interface Check {
  xMm: number;
  yMm: number;
  score: number;
  /** probability that the spec's class's defect is in the crop */
  prob: number;
  /** the crop's and the map's evidence together (manifest `verifier.mapWeights`): what the judge thresholds */
  confidence: number;
  /** its size, mm: the verifier's, or for a check on a run of the rim standing off (rimPlaces) the run's arc */
  sizeMm: number;
  /** for a place found on the rim (manifest `verifier.rim`), how far the rim stands off its circle there, mm */
  rimMm?: number;
  /** for a place found on the rim, the arc it spans standing off, mm */
  rimArcMm?: number;
  /** for a place where the frame differs from its dies (manifest `verifier.dies`), the cells standing out there */
  dieCount?: number;
  /** for a place where the frame differs from its dies, the extent of the cells differing there, mm (DiePlace.extentMm) */
  dieExtentMm?: number;
  /**
   * what `sizeMm` was read from where not the verifier's size: a rim run's arc ('rim', sized by the
   * manifest's `rimSizeFits`) or a die place's extent ('dies', by `dieSizeFits`), in place of `sizeFits`
   */
  sizedBy?: 'rim' | 'dies';
}

export interface ImageScores {
  /** per wafer [specs, H, W] scores 0..1 */
  scores: Float32Array[];
  tensors: Float32Array[];
  /** per wafer and spec, the verifier's checks (null: spec not verified, or no visible frame) */
  checks: Array<Array<Check[] | null>>;
  runMs: number;
  /** of runMs, the verifier's part: cutting the crops and reading them */
  verifyMs: number;
}

const { dir, manifest, session: options, file } = workerData as { dir: string; manifest: ModelManifest; session: SessionOptions; file: 'image' | 'imageFloat' };
const map = scoreMap(manifest);
let session: ort.InferenceSession;
let verifier: ort.InferenceSession | null = null;
let batchBuffer = new Float32Array(0);
let cropBuffer = new Float32Array(0);

serveTasks<ImageBatch, ImageScores>(
  async ({ tensors, visible, queries, specs, verify }) => {
    const per = tensors[0].length;
    const B = tensors.length;
    if (batchBuffer.length < B * per) batchBuffer = new Float32Array(B * per);
    tensors.forEach((t, i) => batchBuffer.set(t, i * per));
    const G = manifest.grid.size;
    const C = manifest.inputChannels.length;
    const image = new ort.Tensor('float32', batchBuffer.subarray(0, B * per), [B, C, G, G]);
    const q = new ort.Tensor('float32', queries, [specs, manifest.embedding]);
    const t0 = performance.now();
    const out = await session.run({ image, queries: q });
    const all = out.scores.data as Float32Array;
    const each = all.length / B;
    const scores = Array.from({ length: B }, (_, i) => all.slice(i * each, (i + 1) * each));
    const t1 = performance.now();
    const checks = await check(scores, visible, verify, specs);
    const runMs = performance.now() - t0;
    return { result: { scores, tensors, checks, runMs, verifyMs: performance.now() - t1 }, transfer: [...scores, ...tensors].map((a) => a.buffer as ArrayBuffer) };
  },
  {
    init: async () => {
      session = await openSession(dir, manifest.files[file]!, options);
      if (manifest.files.verifier) verifier = await openSession(dir, manifest.files.verifier, options);
    },
  },
);

/**
 * For each wafer with a visible frame and each verified spec, the highest local maxima of the spec's
 * map, and the verifier's reading of a crop around each (of the surest of nine, where the manifest
 * looks around the class's places: the check then stands where that crop was cut); all the batch's
 * crops go in one run. Specs of one class asked with the same query (a recipe's zoned spec and its
 * class's) peak at the same places: those are cropped once.
 */
async function check(scores: Float32Array[], visible: Array<VisibleFrame | null>, verify: Int32Array, specs: number): Promise<Array<Array<Check[] | null>>> {
  const out = scores.map(() => new Array<Check[] | null>(specs).fill(null));
  const v = manifest.verifier;
  if (!verifier || !v) return out;
  const cells = map.size * map.size;
  type Place = { xMm: number; yMm: number; score: number; rimMm?: number; rimArcMm?: number; dieCount?: number; dieExtentMm?: number };
  // per place, its crops: the place itself, and for a class the manifest looks around, the eight around it
  type Job = { w: number; j: number; cls: number; places: Place[]; crops: Crop[]; same?: Job };
  const jobs: Job[] = [];
  let crops = 0;
  scores.forEach((s, w) => {
    const frame = visible[w];
    if (!frame) return;
    for (let j = 0; j < specs; j++) {
      if (verify[j] < 0) continue;
      const places: Place[] = localMaxima(s, map, { top: v.perClass, min: v.minScore, offset: j * cells });
      const rim = v.rim[v.classes[verify[j]]];
      if (rim) {
        for (const p of rimPlaces(frame.rim, { side: rim.side === 'inside' ? -1 : 1, top: rim.top, minMm: rim.minMm })) {
          places.push({ xMm: p.xMm, yMm: p.yMm, score: mapNear(s, map, p.xMm, p.yMm, j * cells), rimMm: p.deviationMm, rimArcMm: p.arcMm });
        }
      }
      const dies = v.dies[v.classes[verify[j]]];
      if (dies) {
        for (const p of diesOf(frame).filter((d) => d.count >= dies.minCount).slice(0, dies.top)) {
          places.push({ xMm: p.xMm, yMm: p.yMm, score: mapNear(s, map, p.xMm, p.yMm, j * cells), dieCount: p.count, dieExtentMm: p.extentMm });
        }
      }
      const same = jobs.find((o) => o.w === w && o.cls === verify[j] && !o.same && samePlaces(o.places, places));
      const job: Job = { w, j, cls: verify[j], places, crops: same ? same.crops : lookAt(places, v.around[v.classes[verify[j]]]), ...(same ? { same } : {}) };
      jobs.push(job);
      if (!same) crops += job.crops.length;
    }
  });
  const P = v.cropPx;
  const K = v.classes.length;
  if (cropBuffer.length < crops * 3 * P * P) cropBuffer = new Float32Array(crops * 3 * P * P);
  let at = 0;
  const first = new Map<Job, number>();
  for (const job of jobs) {
    if (job.same) continue;
    cutCrops(visible[job.w]!, job.crops, { px: P, mmPerPx: v.mmPerPx }, cropBuffer, at);
    first.set(job, at);
    at += job.crops.length;
  }
  const { probs, sizes } = await runVerifier(verifier, cropBuffer, crops, P, K);
  for (const job of jobs) {
    const from = first.get(job.same ?? job)!;
    const cls = v.classes[job.cls];
    const mapWeight = v.mapWeights[cls] ?? 0;
    const best = surest(job.crops, job.places.length, (n) => probs[(from + n) * K + job.cls]);
    out[job.w][job.j] = sizeByPlaces(job.places.map((p, i) => {
      const n = from + best[i];
      const prob = probs[n * K + job.cls];
      const c = job.crops[best[i]];
      const rim = p.rimMm === undefined ? 0 : (v.rim[cls]?.weight ?? 0) * Math.abs(p.rimMm);
      const dies = p.dieCount === undefined ? 0 : (v.dies[cls]?.weight ?? 0) * p.dieCount;
      const weight = p.dieCount === undefined ? mapWeight : (v.dies[cls]?.mapWeight ?? 0);
      return {
        xMm: c.xMm,
        yMm: c.yMm,
        score: p.score,
        prob,
        confidence: sigmoid(logit(prob) + weight * logit(p.score) + rim + dies),
        sizeMm: sizes[n * K + job.cls],
        ...(p.rimMm !== undefined ? { rimMm: p.rimMm, rimArcMm: p.rimArcMm } : {}),
        ...(p.dieCount !== undefined ? { dieCount: p.dieCount, dieExtentMm: p.dieExtentMm } : {}),
      };
    }));
  }
  return out;
}

/** per frame geometry, a die comparison of its own, for frames fused without one (diesOf) */
const compares = new Map<string, DieCompare>();

/**
 * The frame's die places: fusion's, or, for a frame fused while a model that checks none was in use
 * (fusion compares only for a model that does), compared here, so a wafer that crosses a model
 * change is checked as fully as any other.
 */
function diesOf(frame: VisibleFrame): DiePlace[] {
  if (frame.dies) return frame.dies;
  const key = `${frame.width}x${frame.height}:${frame.pxToMm.flat().join(',')}:${frame.rim.radiusMm}`;
  let c = compares.get(key);
  if (!c) {
    if (compares.size > 8) compares.clear();
    c = new DieCompare(frame.pxToMm, frame.width, frame.height, frame.rim.radiusMm);
    compares.set(key, c);
  }
  frame.dies = c.places(frame, DIE_PLACES).places;
  return frame.dies;
}

/** How far off a rim run or a die place's differing cells a check may lie and still be on them: a crop's place is a map cell or two off the defect. */
const ON_PLACE_MM = 2;

/**
 * A chip or burr's size is the arc of rim it spans: the run of rays standing off measures it to a
 * few tenths of a mm where the verifier's size, read off one crop, is millimetres out for a long burr
 * (T15, burrs: median 0.24 against 5.4 mm; models/wafer-mm-14/MODEL_CARD.md, "Sizes"). A scratch's
 * is the extent of the cells differing from its dies (fusion/die-places.ts), where the verifier's
 * is centimetres out for a short one (models/wafer-mm-15/MODEL_CARD.md). A check on such a place, its
 * own or the largest within reach (a run first), takes its measure; the others keep the verifier's.
 */
function sizeByPlaces(checks: Check[]): Check[] {
  const runs = checks.filter((c) => c.rimArcMm !== undefined);
  const dies = checks.filter((c) => c.dieExtentMm !== undefined);
  if (!runs.length && !dies.length) return checks;
  for (const c of checks) {
    const run = c.rimArcMm !== undefined ? c : largestNear(c, runs, (r) => r.rimArcMm!, (r) => Math.abs(r.rimMm!));
    if (run) {
      c.sizeMm = run.rimArcMm!;
      c.sizedBy = 'rim';
      continue;
    }
    const die = c.dieExtentMm !== undefined ? c : largestNear(c, dies, (d) => d.dieExtentMm!, (d) => d.dieExtentMm!);
    if (die) {
      c.sizeMm = die.dieExtentMm!;
      c.sizedBy = 'dies';
    }
  }
  return checks;
}

/** Of `places`, the one `c` lies on (within half its extent and ON_PLACE_MM of it) that is largest by `by`. */
function largestNear(c: Check, places: Check[], extent: (p: Check) => number, by: (p: Check) => number): Check | undefined {
  let on: Check | undefined;
  for (const p of places) {
    if (Math.hypot(p.xMm - c.xMm, p.yMm - c.yMm) <= extent(p) / 2 + ON_PLACE_MM && (!on || by(p) > by(on))) on = p;
  }
  return on;
}

const logit = (p: number): number => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
};
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

function samePlaces(a: ReadonlyArray<{ xMm: number; yMm: number; score: number }>, b: ReadonlyArray<{ xMm: number; yMm: number; score: number }>): boolean {
  return a.length === b.length && a.every((p, i) => p.xMm === b[i].xMm && p.yMm === b[i].yMm && p.score === b[i].score);
}

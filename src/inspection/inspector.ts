import type { FusedWafer } from '../fusion/result.js';
import type { Check, Queries } from '../model/image.js';
import type { LoadedModel } from '../model/load.js';
import { scoreMap } from '../model/map.js';
import { judge, type JudgedSpec } from './judge.js';
import type { MapGeometry } from './regions.js';
import type { ResultRecord } from './result.js';

export interface InspectedWafer {
  record: ResultRecord;
  /** the defects really present, when the source knew them (replay of a labelled lot) */
  truth?: FusedWafer['truth'];
  /** the model's share of its batch's run time, ms; absent when the wafer was not scored */
  modelMs?: number;
}

/** What a wafer is scored and judged with: one model, the specs as that model read them, and their queries. */
interface Active {
  model: LoadedModel;
  specs: JudgedSpec[];
  queries: Queries;
  map: MapGeometry;
}

/**
 * Fused wafer -> model scores -> verdict. Every wafer gets a record: when the model fails for it,
 * the record says so and the wafer is not-inspected, never passed. Specs and the model itself can be
 * swapped while wafers are in flight: each wafer is scored by one model and judged with the specs
 * that model read, and its record names that model.
 */
export class Inspector {
  private current: Active;
  /** per model, wafers handed to it and not yet back, and who waits for none to be left */
  private readonly onModel = new Map<LoadedModel, { wafers: number; waiting: Array<() => void> }>();

  constructor(
    model: LoadedModel,
    specs: JudgedSpec[],
    /** called with each fused tensor once the model is done with it, for reuse */
    private readonly release: (t: Float32Array) => void = () => {},
  ) {
    this.current = activate(model, specs);
  }

  get model(): LoadedModel {
    return this.current.model;
  }

  get specs(): JudgedSpec[] {
    return this.current.specs;
  }

  get map(): MapGeometry {
    return this.current.map;
  }

  setSpecs(specs: JudgedSpec[]): void {
    this.current = activate(this.current.model, specs);
  }

  /**
   * Wafers that arrive from now on go to `model`, judged with `specs` (read by that model). Wafers
   * already handed to the old model finish there: a batch never mixes models, since each model has
   * its own queue. Resolves with the old model once the last of them is back, for the caller to close.
   */
  useModel(model: LoadedModel, specs: JudgedSpec[]): Promise<LoadedModel> {
    const old = this.current.model;
    this.current = activate(model, specs);
    return this.idle(old).then(() => old);
  }

  /** Resolves once no wafer is on `model`. */
  idle(model: LoadedModel): Promise<void> {
    const n = this.onModel.get(model);
    if (!n || n.wafers === 0) return Promise.resolve();
    return new Promise((resolve) => n.waiting.push(resolve));
  }

  private enter(model: LoadedModel): void {
    const n = this.onModel.get(model);
    if (n) n.wafers++;
    else this.onModel.set(model, { wafers: 1, waiting: [] });
  }

  private leave(model: LoadedModel): void {
    const n = this.onModel.get(model)!;
    if (--n.wafers > 0) return;
    this.onModel.delete(model);
    for (const w of n.waiting) w();
  }

  async inspect(w: FusedWafer): Promise<InspectedWafer> {
    const a = this.current;
    const { specs, queries, model } = a;
    let scores: Float32Array | null = null;
    let checks: Array<Check[] | null> = [];
    let modelMs: number | undefined;
    const problems = [...w.problems];
    if (w.tensor) {
      this.enter(model);
      try {
        const r = await model.image.score(w.tensor, queries, model.image.needsVisible(queries) ? w.visible : undefined);
        scores = r.scores;
        checks = r.checks;
        modelMs = r.runMs / r.batch;
        this.release(r.tensor);
      } catch (e) {
        problems.push(`model failed: ${(e as Error).message}`);
      } finally {
        this.leave(model);
      }
    }
    const j = judge(specs, scores, a.map, w.modalities, problems, checks);
    const record: ResultRecord = {
      wafer: w.wafer,
      lot: w.lot ?? null,
      at: new Date(w.arrivedAt).toISOString(),
      verdict: j.verdict,
      modalities: w.modalities,
      findings: j.findings,
      reason: j.reason,
      latencyMs: Math.round((Date.now() - w.arrivedAt) * 10) / 10,
      model: model.id,
    };
    return { record, truth: w.truth, ...(modelMs !== undefined ? { modelMs } : {}) };
  }
}

function activate(model: LoadedModel, specs: JudgedSpec[]): Active {
  return { model, specs, queries: model.image.queries(specs.map((s) => s.query), specs.map((s) => s.kind)), map: scoreMap(model.manifest) };
}

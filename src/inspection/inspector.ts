import type { FusedWafer } from '../fusion/result.js';
import type { Queries } from '../model/image.js';
import type { LoadedModel } from '../model/load.js';
import type { ModelManifest } from '../model/manifest.js';
import { judge, type JudgedSpec } from './judge.js';
import type { MapGeometry } from './regions.js';
import type { ResultRecord } from './result.js';

/** Where the model's score cells lie on the wafer. */
export function scoreMap(m: ModelManifest): MapGeometry {
  const size = m.grid.size / m.outputStride;
  return { size, cellMm: m.grid.fieldMm / size, x0: -m.grid.fieldMm / 2, y0: m.grid.fieldMm / 2 };
}

export interface InspectedWafer {
  record: ResultRecord;
  /** the defects really present, when the source knew them (replay of a labelled lot) */
  truth?: FusedWafer['truth'];
}

/**
 * Fused wafer -> model scores -> verdict. Every wafer gets a record: when the model fails for it,
 * the record says so and the wafer is not-inspected, never passed. Specs can be swapped while wafers
 * are in flight: each wafer is judged with the specs it was scored against.
 */
export class Inspector {
  private current: { specs: JudgedSpec[]; queries: Queries };
  readonly map: MapGeometry;

  constructor(
    private readonly model: LoadedModel,
    specs: JudgedSpec[],
    /** called with each fused tensor once the model is done with it, for reuse */
    private readonly release: (t: Float32Array) => void = () => {},
  ) {
    this.map = scoreMap(model.manifest);
    this.current = this.prepare(specs);
  }

  private prepare(specs: JudgedSpec[]): { specs: JudgedSpec[]; queries: Queries } {
    return { specs, queries: this.model.image.queries(specs.map((s) => s.query)) };
  }

  get specs(): JudgedSpec[] {
    return this.current.specs;
  }

  setSpecs(specs: JudgedSpec[]): void {
    this.current = this.prepare(specs);
  }

  async inspect(w: FusedWafer): Promise<InspectedWafer> {
    const { specs, queries } = this.current;
    let scores: Float32Array | null = null;
    const problems = [...w.problems];
    if (w.tensor) {
      try {
        const r = await this.model.image.score(w.tensor, queries);
        scores = r.scores;
        this.release(r.tensor);
      } catch (e) {
        problems.push(`model failed: ${(e as Error).message}`);
      }
    }
    const j = judge(specs, scores, this.map, w.modalities, problems);
    const record: ResultRecord = {
      wafer: w.wafer,
      lot: w.lot ?? null,
      at: new Date(w.arrivedAt).toISOString(),
      verdict: j.verdict,
      modalities: w.modalities,
      findings: j.findings,
      reason: j.reason,
      latencyMs: Math.round((Date.now() - w.arrivedAt) * 10) / 10,
      model: this.model.id,
    };
    return { record, truth: w.truth };
  }
}

import type { ResultRecord } from '../inspection/result.js';
import type { Observation } from './controller.js';

/**
 * Defect statistics over consecutive windows of inspected wafers, one observation per spec and per
 * class at the end of each window. Wafers that could not be inspected are left out of the
 * denominators: a camera fault is not a change of the process.
 */
export class DefectWindow {
  private wafers = 0;
  private readonly perSource = new Map<string, { hit: number; count: number; sizeSum: number }>();

  constructor(
    private readonly size: number,
    private readonly specs: readonly string[],
    private readonly classes: readonly string[],
  ) {
    if (!(size >= 1)) throw new RangeError('window size must be at least 1 wafer');
  }

  add(r: ResultRecord, atMs: number): Observation[] {
    if (r.verdict === 'not-inspected') return [];
    this.wafers++;
    const seen = new Set<string>();
    for (const f of r.findings) {
      for (const key of [`spec:${f.spec}`, `class:${f.class}`]) {
        const e = this.entry(key);
        e.count++;
        e.sizeSum += f.sizeMm;
        if (!seen.has(key)) e.hit++;
        seen.add(key);
      }
    }
    if (this.wafers < this.size) return [];
    const out: Observation[] = [];
    const emit = (key: string, source: Observation['source']) => {
      const e = this.entry(key);
      out.push({ source, statistic: 'rate', value: e.hit / this.wafers, at: atMs });
      out.push({ source, statistic: 'count-per-wafer', value: e.count / this.wafers, at: atMs });
      if (e.count > 0) out.push({ source, statistic: 'mean-size-mm', value: e.sizeSum / e.count, at: atMs });
    };
    for (const s of this.specs) emit(`spec:${s}`, { spec: s });
    for (const c of this.classes) emit(`class:${c}`, { class: c });
    this.wafers = 0;
    this.perSource.clear();
    return out;
  }

  private entry(key: string) {
    let e = this.perSource.get(key);
    if (!e) this.perSource.set(key, (e = { hit: 0, count: 0, sizeSum: 0 }));
    return e;
  }
}

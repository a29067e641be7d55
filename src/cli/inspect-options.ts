import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { PACKAGE_ROOT } from '../common/paths.js';
import { DEFAULT_MODEL, type Variant } from '../model/load.js';

/** Options every command that inspects shares: which model, which station, which thresholds. */
export interface InspectOptions {
  model: string;
  station: string;
  thresholds?: string;
  variant: Variant;
}

export function withInspectOptions(cmd: Command): Command {
  return cmd
    .option('--model <dir>', 'model folder', DEFAULT_MODEL)
    .option('--station <dir>', 'station calibration folder', join(PACKAGE_ROOT, 'calibration/reference'))
    .option('--thresholds <file>', 'score thresholds (default: thresholds.yaml in the station folder)')
    .addOption(new Option('--variant <v>', 'image model to run').choices(['int8', 'fp32']).default('fp32'));
}

export function thresholdsPath(o: InspectOptions): string {
  return o.thresholds ?? join(o.station, 'thresholds.yaml');
}

export const GRID = { size: 256, fieldMm: 320, roiRadiusMm: 158 };

/** "0.3%" or "0.003" -> 0.003 */
export function rate(v: string): number {
  const n = v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : Number(v);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new Error(`a rate must be between 0 and 1 (or 0% and 100%), got "${v}"`);
  return n;
}

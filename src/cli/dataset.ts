import { Command } from 'commander';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../common/paths.js';
import { exportDataset } from '../dataset/export.js';
import { int, num } from './args.js';

export function datasetCommand(): Command {
  return new Command('dataset')
    .description('fuse a recorded lot into training arrays for the model tools (models/): <out>.inputs.u16, <out>.masks.u8, <out>.json')
    .argument('<lot>', 'recorded lot folder')
    .requiredOption('--out <prefix>', 'path prefix of the files to write')
    .option('--grid <n>', 'cells per side', int('--grid'), 256)
    .option('--field <mm>', 'side of the gridded square', num('--field'), 320)
    .option('--roi <mm>', 'region-of-interest radius', num('--roi'), 158)
    .option('--station <dir>', 'station calibration folder', join(PACKAGE_ROOT, 'calibration/reference'))
    .option('--workers <n>', 'fusion threads (default: one per core)', int('--workers'))
    .action(async (lot: string, o: { out: string; grid: number; field: number; roi: number; station: string; workers?: number }) => {
      const t0 = performance.now();
      const index = await exportDataset({ lot, out: o.out, stationDir: o.station, grid: { size: o.grid, fieldMm: o.field, roiRadiusMm: o.roi }, workers: o.workers });
      const s = (performance.now() - t0) / 1000;
      process.stdout.write(`${o.out}: ${index.wafers.length} wafers (${index.masks} masks), ${index.skipped.length} skipped, in ${s.toFixed(1)} s\n`);
      for (const k of index.skipped) process.stdout.write(`  skipped ${k.wafer}: ${k.problems.join('; ')}\n`);
    });
}

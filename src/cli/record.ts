import { Command, Option } from 'commander';
import { FRAME_FORMATS, type FrameFormat } from '../frames/encode.js';
import { LOOKS, type LookName } from '../sim/look.js';
import { recordSynthetic } from '../sim/record.js';
import { progressLine } from './progress.js';
import { int, num } from './args.js';

export function recordCommand(): Command {
  return new Command('record')
    .description('write a recorded lot (contracts §2); --synthetic N renders N wafers of the synthetic line with their truth')
    .argument('<out>', 'lot folder to create')
    .requiredOption('--synthetic <n>', 'number of synthetic wafers', int('--synthetic'))
    .option('--seed <s>', 'seed of the synthetic line', int('--seed'), 1)
    .option('--defect-rate <r>', 'share of wafers with defects (0..1)', num('--defect-rate'), 0.3)
    .option('--max-defects <n>', 'most defects on one wafer', int('--max-defects'), 3)
    .option('--rate <hz>', 'line rate written as arrival times', num('--rate'), 15)
    .addOption(new Option('--format <f>', 'frame files: tiff replays fastest, png is smaller').choices(FRAME_FORMATS).default('tiff'))
    .addOption(new Option('--look <name>', "ranges the wafers' looks are drawn from (plant: another plant's film, optics, noise and particles)").choices(LOOKS).default('default'))
    .option('--lot <id>', 'lot id (default SIM-<seed>)')
    .option('--workers <n>', 'render threads (default: one per core)', int('--workers'))
    .action(async (out: string, o: { synthetic: number; seed: number; defectRate: number; maxDefects: number; rate: number; format: FrameFormat; look: LookName; lot?: string; workers?: number }) => {
      if (o.synthetic < 1) throw new Error('--synthetic must be at least 1');
      if (o.defectRate < 0 || o.defectRate > 1) throw new Error('--defect-rate must be between 0 and 1');
      const progress = progressLine('record', o.synthetic);
      const t0 = performance.now();
      const r = await recordSynthetic({
        count: o.synthetic,
        out,
        format: o.format,
        rateHz: o.rate,
        workers: o.workers,
        line: { seed: o.seed, defectRate: o.defectRate, maxDefects: o.maxDefects, lot: o.lot, look: o.look },
        onProgress: progress.update,
      });
      progress.done();
      const s = (performance.now() - t0) / 1000;
      process.stdout.write(`${out}: lot ${r.lot}, ${r.wafers} wafers in ${s.toFixed(1)} s (${(r.wafers / s).toFixed(1)} wafers/s)\n`);
    });
}

import { Command } from 'commander';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../common/paths.js';
import { syntheticCalibrationSource } from '../sim/calibration-source.js';
import { calibrateStation } from '../station/produce.js';
import { int } from './args.js';
import { calibrateThresholdsCommand } from './calibrate-thresholds.js';

export function calibrateCommand(): Command {
  const cmd = new Command('calibrate').description('measure a station: dark/flat fields and registration between modalities');
  cmd
    .command('station')
    .description('capture dark, flat and target frames and write calibration/<station>/ (station.yaml and field images)')
    .requiredOption('--synthetic', 'take the frames from the simulated reference station')
    .option('--out <dir>', 'output folder (default: calibration/<station> in the package)')
    .option('--takes <n>', 'frames averaged per dark/flat field', int('--takes'), 16)
    .action(async (o: { out?: string; takes: number }) => {
      const src = syntheticCalibrationSource(o.takes);
      const out = o.out ?? join(PACKAGE_ROOT, 'calibration', src.station);
      const reports = await calibrateStation(src, out, o.takes);
      for (const r of reports) {
        process.stdout.write(
          `${r.modality}: ${r.registration.matched} marks matched of ${r.marksFound} found, residual ${r.registration.rmsMm.toFixed(3)} mm rms, pitch ${r.pitchMm.toFixed(4)} mm/px\n`,
        );
      }
      process.stdout.write(`wrote ${out}/station.yaml\n`);
    });
  cmd.addCommand(calibrateThresholdsCommand());
  return cmd;
}

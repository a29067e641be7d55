import { Command } from 'commander';
import { createCapture } from '../capture/index.js';
import { createLogger, ProblemCounter } from '../common/log.js';
import { ConfigError, loadConfig, stationDir } from '../config/load.js';
import { FusionStage } from '../fusion/stage.js';
import { captureOptions } from '../service/capture-options.js';
import { fusedOnly, newStats, runLine } from '../service/line.js';
import { StatusLine } from './status.js';

export function demoCommand(): Command {
  return new Command('demo')
    .description('run the line: synthetic wafers at line rate through capture and fusion, with a live status line (npm start)')
    .option('--config <file>', 'YAML config (default: built-in demo settings)')
    .option('--count <n>', 'stop after this many wafers', (v) => Number(v))
    .action(async (o: { config?: string; count?: number }) => {
      let config;
      try {
        config = await loadConfig(o.config);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(e.message + '\n');
          process.exitCode = 1;
          return;
        }
        throw e;
      }
      if (o.count !== undefined && config.capture.driver === 'synthetic') config.capture.synthetic.count = o.count;
      const log = createLogger(config.log.level);
      const problems = new ProblemCounter(log);
      const capture = createCapture(captureOptions(config.capture));
      const fusion = new FusionStage({ stationDir: stationDir(config), grid: { size: config.fusion.gridSize, fieldMm: config.fusion.fieldMm, roiRadiusMm: config.fusion.roiRadiusMm }, workers: config.fusion.workers });
      try {
        await fusion.ready();
      } catch (e) {
        await fusion.close();
        process.stderr.write(`wafer-inspect: fusion cannot start: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const stats = newStats();
      const status = new StatusLine(stats);
      log.info({ station: config.station, capture: capture.name, grid: config.fusion }, 'line starting');
      const stop = (): void => capture.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const tty = process.stderr.isTTY;
      const ticker = setInterval(() => {
        process.stderr.write(tty ? `\r${status.text()}\x1b[K` : status.text() + '\n');
        problems.report();
      }, 1000);
      try {
        await runLine({
          capture,
          fusion,
          stats,
          maxInFlight: fusion.workers * 2,
          next: fusedOnly,
          onWafer: (w) => {
            for (const p of w.problems) problems.note(p.split(':')[0], `${w.wafer}: ${p}`);
            fusion.recycle(w.tensor);
          },
        });
      } finally {
        clearInterval(ticker);
        process.stderr.write((tty ? '\r' : '') + status.text() + '\n');
        problems.report();
        await fusion.close();
        log.info({ wafers: stats.wafersOut, incomplete: stats.incomplete }, 'line stopped');
      }
    });
}

import { createWriteStream, type WriteStream } from 'node:fs';
import { Command } from 'commander';
import { createCapture } from '../capture/index.js';
import { createLogger, ProblemCounter } from '../common/log.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { openAppliance } from '../service/appliance.js';
import { captureOptions } from '../service/capture-options.js';
import { newStats, runLine } from '../service/line.js';
import { StatusLine, type Tally } from './status.js';

export function demoCommand(): Command {
  return new Command('demo')
    .description('run the line: synthetic wafers at line rate through capture, fusion, the model and the verdict, with a live status line (npm start)')
    .option('--config <file>', 'YAML config (default: built-in demo settings)')
    .option('--count <n>', 'stop after this many wafers', (v) => Number(v))
    .option('--out <file>', 'also write every result record (contracts §5) to this JSON-lines file')
    .action(async (o: { config?: string; count?: number; out?: string }) => {
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
      let appliance;
      try {
        appliance = await openAppliance(config, log);
      } catch (e) {
        process.stderr.write(`wafer-inspect: cannot start: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const { fusion, inspector, prepared } = appliance;
      const capture = createCapture(captureOptions(config.capture));
      const stats = newStats();
      const tally: Tally = { pass: 0, fail: 0, 'not-inspected': 0, bySpec: Object.fromEntries(prepared.specs.map((s) => [s.id, 0])) };
      const status = new StatusLine(stats, tally);
      const out: WriteStream | null = o.out ? createWriteStream(o.out) : null;
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
          maxInFlight: fusion.workers * 2 + config.model.maxBatch,
          next: (w) => inspector.inspect(w),
          onWafer: ({ record }) => {
            tally[record.verdict]++;
            for (const s of new Set(record.findings.map((f) => f.spec))) tally.bySpec[s]++;
            if (record.reason && record.verdict !== 'fail') problems.note(record.verdict, `${record.wafer}: ${record.reason}`);
            out?.write(JSON.stringify(record) + '\n');
          },
        });
      } finally {
        clearInterval(ticker);
        process.stderr.write((tty ? '\r' : '') + status.text() + '\n');
        problems.report();
        out?.end();
        await appliance.close();
        log.info({ wafers: stats.wafersOut, ...{ pass: tally.pass, fail: tally.fail, notInspected: tally['not-inspected'] } }, 'line stopped');
      }
    });
}

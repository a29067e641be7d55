import { Command } from 'commander';
import { createLogger } from '../common/log.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { StartError } from '../service/appliance.js';
import { Service, startChecks, StartProblems } from '../service/service.js';

/** sysexits EX_CONFIG: the unit's RestartPreventExitStatus keeps systemd from restarting into the same error. */
export const EXIT_CONFIG = 78;

export function runCommand(): Command {
  return new Command('run')
    .description('run the appliance as a service (systemd Type=notify): capture, inspection, telemetry, control; stops cleanly on SIGTERM')
    .requiredOption('--config <file>', 'YAML config')
    .option('--validate-config', 'check the config, hardware profiles and control links, print every problem, and exit (0 valid, 78 not)')
    .action(async (o: { config: string; validateConfig?: boolean }) => {
      let config: Config;
      try {
        config = await loadConfig(o.config);
        const problems = await startChecks(config);
        if (problems.length > 0) throw new StartProblems(problems);
      } catch (e) {
        if (!(e instanceof ConfigError) && !(e instanceof StartProblems)) throw e;
        process.stderr.write(`${e instanceof StartProblems ? `${o.config}: ` : ''}${e.message}\n`);
        process.exitCode = EXIT_CONFIG;
        return;
      }
      if (o.validateConfig) {
        process.stdout.write(`${o.config}: valid\n`);
        return;
      }
      const log = createLogger(config.log.level);
      let signals = 0;
      let service: Service | undefined;
      let stopRequested: string | undefined;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (++signals > 1) {
          log.warn({ signal: sig }, 'second signal: exiting now without finishing the wafers in flight');
          process.exit(1);
        }
        stopRequested = sig;
        if (service) void finish(sig);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      const finish = async (reason: string): Promise<void> => {
        const code = await service!.stop(reason);
        // Timers of libraries (MQTT reconnects, workers) must not keep a stopped service alive.
        process.exit(code);
      };
      try {
        service = await Service.start({ config, log });
      } catch (e) {
        const msg = e instanceof StartProblems ? `${o.config}: ${e.message}` : `cannot start: ${(e as Error).message}`;
        log.fatal({ err: e }, msg);
        process.stderr.write(`wafer-inspect: ${msg}\n`);
        // a recipe this model cannot read on this station fails the same way on every restart
        process.exit(e instanceof StartProblems || e instanceof StartError ? EXIT_CONFIG : 1);
      }
      if (stopRequested) return finish(stopRequested);
      await service.ended;
      if (!stopRequested) await finish('capture ended');
    });
}

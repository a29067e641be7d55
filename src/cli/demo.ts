import { createWriteStream } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../common/log.js';
import { ConfigError, loadConfig, modelDir } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { readManifest } from '../model/manifest.js';
import { StartProblems } from '../service/service.js';
import { Simulation, watchTopics, type SimulationSource } from '../service/simulation.js';
import { LineTally, StatusDisplay, StatusLine } from './status.js';

export interface SimulationFlags {
  config?: string;
  count?: number;
  out?: string;
  logLevel?: string;
  drift: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Options the demo and `simulate` share. */
export function withSimulationOptions(c: Command): Command {
  return c
    .option('--config <file>', 'YAML config for the model, recipe, thresholds and fusion (default: the shipped ones); telemetry and control are set up by the simulation')
    .option('--count <n>', 'stop after this many wafers', positive)
    .option('--out <file>', 'also write every result record (contracts §5) to this JSON-lines file')
    .option('--drift <factor>', 'speed-up of the process drifts (wheel wear, chuck heating, bearing wear), so that control acts within minutes (1: the rates of production)', positiveNumber, 3)
    .addOption(new Option('--log-level <level>', 'log level (default: warn, or the config\'s); LOG_LEVEL wins').choices(LOG_LEVELS))
    .addHelpText(
      'after',
      '\nMQTT goes to an embedded broker on a free loopback port, unless MQTT_URL names a real one (mqtt://host:port).\nCtrl-C stops the line in order: capture stops, wafers in flight finish, the outbox is flushed.',
    );
}

export function demoCommand(): Command {
  return withSimulationOptions(
    new Command('demo')
      .description('the line simulation (npm start): synthetic wafers at line rate through the whole appliance, with closed-loop control of simulated arms over Modbus TCP and MQTT telemetry, and a live status line')
      .option('--rate <hz>', 'wafers per second (default: the config\'s, 15)', positiveNumber)
      .option('--seed <n>', 'seed of the line and the process', (v) => Number.parseInt(v, 10)),
  ).action(async (o: SimulationFlags & { rate?: number; seed?: number }) => {
    await runSimulation(o, (base) => ({ kind: 'synthetic', rateHz: o.rate ?? base.capture.synthetic.rateHz, count: o.count, seed: o.seed }));
  });
}

/**
 * Runs a simulation with the status display until the source runs out or a signal stops it, then
 * exits the process with the service's exit code, as `wafer-inspect run` does.
 */
export async function runSimulation(o: SimulationFlags, source: (base: Config) => SimulationSource): Promise<void> {
  let base: Config;
  try {
    base = await loadConfig(o.config);
    if (!o.config) await adoptModelGrid(base);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(e.message + '\n');
    process.exitCode = 78;
    return;
  }
  const src = source(base);
  const tally = new LineTally(base.control.windowWafers);
  let sim: Simulation | undefined;
  const outbox = (): { depth: number; connected: boolean } | undefined => {
    const t = sim?.service.telemetryStatus();
    return t && { depth: t.outbox.depth, connected: t.connected };
  };
  const status = new StatusLine({ tally, count: src.count, outbox, arms: () => sim?.service.armStates() ?? {} });
  const display = new StatusDisplay(status);
  // Log lines go above the status when both share the terminal.
  const shared = display.tty && process.stdout.isTTY;
  const log = createLogger(o.logLevel ?? (o.config ? base.log.level : 'warn'), shared ? { write: (s: string) => display.print(s, process.stdout) } : undefined);
  const out = o.out ? createWriteStream(o.out) : null;
  const say = (text: string): void => display.print(text + '\n');

  let signals = 0;
  let stopReason: string | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let finishing: Promise<never> | undefined;
  const finish = (reason: string): Promise<never> => (finishing ??= stopAndExit(reason));
  const stopAndExit = async (reason: string): Promise<never> => {
    clearInterval(ticker);
    if (!sim) process.exit(1);
    const code = await sim.stop(reason);
    status.final = true;
    display.draw(true);
    const arms = Object.entries(sim.rig.summary()).map(([a, s]) => `${a} ${s.heartbeats} heartbeats, ${s.moves} moves applied`);
    say(`stopped (${reason}): ${tally.wafers} wafers, pass ${tally.verdicts.pass} fail ${tally.verdicts.fail} not-inspected ${tally.verdicts['not-inspected']}, ${tally.moves} control moves; arms: ${arms.join('; ')}`);
    if (out) await new Promise((r) => out.end(r));
    // Timers of libraries (MQTT reconnects, workers) must not keep the stopped line alive.
    process.exit(code);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      say(`${sig} again: exiting now, without finishing the wafers in flight`);
      process.exit(1);
    }
    stopReason = sig;
    if (sim) void finish(sig);
    else say(`${sig}: stopping once start-up is complete`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const what = src.kind === 'lot' ? `lot ${src.lot} (${src.pace} pace)` : `synthetic line at ${src.rateHz} wafers/s`;
  say(`wafer-inspect line simulation: ${what}${src.count ? `, ${src.count} wafers` : ''}; Ctrl-C stops it`);
  try {
    sim = await Simulation.start({
      base,
      source: src,
      log,
      mqttUrl: process.env.MQTT_URL || undefined,
      driftScale: o.drift,
      observer: {
        result: (r) => {
          tally.result(r);
          out?.write(JSON.stringify(r) + '\n');
        },
        move: () => tally.move(),
      },
      onConfig: (c) => {
        const t = watchTopics(c);
        say(`MQTT: ${process.env.MQTT_URL ? 'broker' : 'embedded broker'} at ${t.url}; results on ${t.results}`);
        say(`watch the topics: ${t.watch}`);
        say(`arms: ${c.control.arms.length} simulated over Modbus TCP on 127.0.0.1, ${c.control.links.length} control links`);
      },
    });
  } catch (e) {
    const msg = e instanceof StartProblems ? e.message : `cannot start: ${(e as Error).message}`;
    say(`wafer-inspect: ${msg}`);
    process.exit(e instanceof StartProblems ? 78 : 1);
  }
  say(`metrics: http://127.0.0.1:${sim.service.httpPort}/metrics`);
  if (stopReason) return finish(stopReason);
  ticker = setInterval(() => display.draw(), display.tty ? 500 : 1000);
  await sim.service.ended;
  if (!stopReason) await finish('done');
}

/** Without a config, the fusion grid follows the model, so `npm start` runs whichever model is shipped. */
async function adoptModelGrid(c: Config): Promise<void> {
  try {
    const g = (await readManifest(modelDir(c))).grid;
    c.fusion.gridSize = g.size;
    c.fusion.fieldMm = g.fieldMm;
    if ('roiRadiusMm' in g && typeof g.roiRadiusMm === 'number') c.fusion.roiRadiusMm = g.roiRadiusMm;
  } catch {
    // Start-up reports a missing or damaged model with what to do about it.
  }
}

export function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${v}: not a positive whole number`);
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${v}: not a positive number`);
  return n;
}

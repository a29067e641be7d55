import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureDriver } from '../capture/index.js';
import { ReplayCapture } from '../capture/replay.js';
import { SyntheticCapture } from '../capture/synthetic.js';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/schema.js';
import { DEFAULT_LINKS } from '../sim/closed-loop.js';
import { SimArmRig } from '../sim/arms/rig.js';
import { topicsFor } from '../telemetry/topics.js';
import { captureOptions } from './capture-options.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { Service, type ServiceOptions } from './service.js';

/** The arms DEFAULT_LINKS drive. */
const SIM_ARMS = [...new Set(DEFAULT_LINKS.map((l) => l.arm))];

export type SimulationSource =
  | { kind: 'synthetic'; rateHz: number; count?: number; seed?: number }
  | { kind: 'lot'; lot: string; pace: 'recorded' | 'max'; loops?: number; count?: number };

export interface SimulationOptions {
  /** model, recipe, thresholds, fusion, station and log settings; telemetry and control are set here */
  base: Config;
  source: SimulationSource;
  log: Logger;
  /** a real broker; without it an embedded one on a free port */
  mqttUrl?: string;
  /** multiplies the process drifts, so that control has something to do within minutes */
  driftScale: number;
  observer?: ServiceOptions['observer'];
  /** called once the broker and the arms are up, before the model loads: time enough to subscribe */
  onConfig?: (config: Config) => void;
}

/**
 * The whole appliance on one machine: the service code path of `wafer-inspect run`, with the line,
 * the arms and the broker simulated around it. The config is what a plant's would be (telemetry to a
 * broker, control links to arms named by profile files), so nothing here bypasses the service.
 */
export class Simulation {
  private constructor(
    readonly service: Service,
    readonly config: Config,
    readonly rig: SimArmRig,
    readonly broker: EmbeddedBroker | undefined,
    private readonly tempDir: string | undefined,
  ) {}

  static async start(o: SimulationOptions): Promise<Simulation> {
    const tempDir = o.base.service.stateDir ? undefined : mkdtempSync(join(tmpdir(), 'wafer-inspect-sim-'));
    const stateDir = o.base.service.stateDir ?? tempDir!;
    let broker: EmbeddedBroker | undefined;
    let rig: SimArmRig | undefined;
    try {
      broker = o.mqttUrl ? undefined : await EmbeddedBroker.start();
      const seed = o.source.kind === 'synthetic' ? (o.source.seed ?? o.base.capture.synthetic.seed) : o.base.capture.synthetic.seed;
      rig = await SimArmRig.start({ arms: SIM_ARMS, dir: join(stateDir, 'arms'), seed, driftScale: o.driftScale });
      const config = simulationConfig(o.base, { brokerUrl: broker?.url ?? o.mqttUrl!, protocolVersion: broker?.protocolVersion, armFiles: rig.profileFiles, stateDir });
      o.onConfig?.(config);
      const service = await Service.start({ config, log: o.log, capture: captureFor(o.source, config, rig), observer: o.observer });
      return new Simulation(service, config, rig, broker, tempDir);
    } catch (e) {
      await rig?.stop();
      await broker?.close();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The service's orderly shutdown, then the simulated cell and broker; resolves with the exit code. */
  async stop(reason: string): Promise<number> {
    const code = await this.service.stop(reason);
    await this.rig.stop();
    await this.broker?.close();
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    return code;
  }
}

/** Where the results go, and a command that shows every topic without installing anything. */
export function watchTopics(config: Config): { url: string; results: string; watch: string } {
  const t = config.telemetry;
  const url = new URL(t.url);
  const port = url.port || (url.protocol === 'mqtts:' ? '8883' : '1883');
  const results = topicsFor(t.prefix, config.station).channel('results');
  return { url: t.url, results, watch: `npx mqtt sub -h ${url.hostname} -p ${port} -t '${t.prefix}/#' -v` };
}

export function simulationConfig(base: Config, o: { brokerUrl: string; protocolVersion?: 4 | 5; armFiles: readonly string[]; stateDir: string }): Config {
  const c = structuredClone(base);
  c.telemetry.enabled = true;
  c.telemetry.url = o.brokerUrl;
  if (o.protocolVersion) c.telemetry.protocolVersion = o.protocolVersion;
  // Power-loss durability buys nothing in a simulation and costs a disk flush per record.
  c.telemetry.outbox.synchronous = 'normal';
  c.control.arms = [...o.armFiles];
  if (c.control.links.length === 0) c.control.links = structuredClone([...DEFAULT_LINKS]);
  c.service.stateDir = o.stateDir;
  // A second service (or a real one) on the machine keeps its port; the simulation takes a free one.
  c.service.httpPort = 0;
  return c;
}

function captureFor(s: SimulationSource, config: Config, rig: SimArmRig): CaptureDriver {
  if (s.kind === 'lot') return new ReplayCapture({ lot: s.lot, pace: s.pace, loops: s.loops, count: s.count });
  const base = captureOptions({ ...config.capture, driver: 'synthetic' });
  if (base.driver !== 'synthetic') throw new Error('unreachable');
  const line = { ...base.synthetic.line, ...(s.seed !== undefined ? { seed: s.seed } : {}), defectsFor: rig.defectsFor };
  return new SyntheticCapture({ line, rateHz: s.rateHz, count: s.count });
}

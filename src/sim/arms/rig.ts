import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { HARDWARE_DIR, parseProfile } from '../../hardware/load.js';
import { DEFAULT_DRIFT, ProcessModel, type DriftOptions } from '../process.js';
import { ProcessBridge } from './process-bridge.js';
import { SimArm } from './sim-arm.js';

export interface SimArmRigOptions {
  /** shipped profile ids (hardware/<id>.yaml) to serve */
  arms: readonly string[];
  /** where the profiles pointing at the loopback ports are written */
  dir: string;
  seed: number;
  /** multiplies every drift of the process: minutes of demo instead of days of production */
  driftScale?: number;
}

/**
 * The simulated cell for the line simulation: each arm served over Modbus TCP on a free loopback
 * port, a copy of its shipped profile naming that port (so the service connects through the same
 * profile files as to a real cell), and the process model behind the arms deciding what the line makes.
 */
export class SimArmRig {
  readonly process: ProcessModel;
  readonly bridge: ProcessBridge;
  private readonly heartbeats = new Map<SimArm, number>();
  private readonly timer: NodeJS.Timeout;

  private constructor(
    readonly arms: readonly SimArm[],
    /** profile files for control.arms, in the order of `arms` */
    readonly profileFiles: readonly string[],
    seed: number,
    driftScale: number,
  ) {
    const drift = Object.fromEntries(Object.entries(DEFAULT_DRIFT).map(([k, v]) => [k, v * driftScale])) as unknown as DriftOptions;
    this.process = new ProcessModel({ seed, drift });
    this.bridge = new ProcessBridge(this.process, arms);
    // SimArm keeps every write for tests to inspect; a demo that runs for days must not.
    this.timer = setInterval(() => this.countHeartbeats(), 5000);
    this.timer.unref();
  }

  static async start(o: SimArmRigOptions): Promise<SimArmRig> {
    mkdirSync(o.dir, { recursive: true });
    const arms: SimArm[] = [];
    const files: string[] = [];
    try {
      for (const id of o.arms) {
        const source = join(HARDWARE_DIR, `${id}.yaml`);
        const text = readFileSync(source, 'utf8');
        const arm = new SimArm(parseProfile(text, source));
        arms.push(arm);
        const port = await arm.listen(0, '127.0.0.1');
        // Edited as a document, so the copy keeps the shipped profile's comments and order.
        const doc = parseDocument(text);
        doc.setIn(['transport', 'host'], '127.0.0.1');
        doc.setIn(['transport', 'port'], port);
        const file = join(o.dir, `${id}.yaml`);
        writeFileSync(file, doc.toString());
        files.push(file);
      }
    } catch (e) {
      await Promise.all(arms.map((a) => a.stop()));
      throw e;
    }
    return new SimArmRig(arms, files, o.seed, o.driftScale ?? 1);
  }

  /** For the synthetic line: what wafer `index` carries, under the parameters the arms hold now. */
  readonly defectsFor = (index: number): ReturnType<ProcessBridge['defectsFor']> => this.bridge.defectsFor(index);

  /** Heartbeat writes and committed moves each arm has seen: evidence that the service reached it. */
  summary(): Record<string, { heartbeats: number; moves: number }> {
    this.countHeartbeats();
    return Object.fromEntries(this.arms.map((a) => [a.profile.id, { heartbeats: this.heartbeats.get(a) ?? 0, moves: a.applied.length }]));
  }

  private countHeartbeats(): void {
    for (const a of this.arms) {
      const hb = a.profile.heartbeat?.address;
      const n = hb === undefined ? 0 : a.writes.filter((w) => w.address <= hb && hb < w.address + w.values.length).length;
      this.heartbeats.set(a, (this.heartbeats.get(a) ?? 0) + n);
      a.writes.length = 0;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.arms.map((a) => a.stop()));
  }
}

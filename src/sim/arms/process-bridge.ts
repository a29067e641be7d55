import type { DefectRequest } from '../defects.js';
import { isProcessParameter, type ProcessModel } from '../process.js';
import type { SimArm } from './sim-arm.js';

/**
 * Connects simulated arms to the process model. A parameter reaches the process when the arm
 * commits a move (a new sequence number), as the robot program takes parameters only then; what is
 * merely written to a register changes nothing. The grinder's read-only wheelWear register reports
 * the process's hidden wear, as the cell's own gauge would.
 *
 * The bridge is polled once per wafer (sync) rather than called from inside the arm, so the process
 * changes between wafers, never in the middle of one.
 */
export class ProcessBridge {
  private readonly seen = new Map<SimArm, number>();

  constructor(
    readonly process: ProcessModel,
    readonly arms: readonly SimArm[],
  ) {
    for (const arm of arms) {
      // The arm is the truth at start: whatever it holds is what the process runs with.
      for (const name of Object.keys(arm.profile.parameters)) if (isProcessParameter(name) && arm.profile.parameters[name].writable) process.set(name, arm.value(name));
      this.seen.set(arm, arm.applied.length);
    }
  }

  /** Takes the moves the arms committed since the last call and publishes the drift at wafer `index`. */
  sync(index: number): void {
    for (const arm of this.arms) {
      const n = this.seen.get(arm) ?? 0;
      const latest = arm.applied.at(-1);
      if (arm.applied.length > n && latest) {
        for (const [name, value] of Object.entries(latest.values)) if (isProcessParameter(name) && arm.profile.parameters[name]?.writable) this.process.set(name, value);
      }
      this.seen.set(arm, arm.applied.length);
      const gauge = arm.profile.parameters.wheelWear;
      if (gauge && gauge.address !== undefined) {
        const um = this.process.drift(index).wheelWearMm * 1000;
        arm.set('wheelWear', Math.min(gauge.max, Math.max(gauge.min, Math.round(um / gauge.scale) * gauge.scale)));
      }
    }
  }

  /** For LineOptions.defectsFor: the line renders what the process, as the arms left it, produces. */
  defectsFor(index: number): DefectRequest[] {
    this.sync(index);
    return this.process.defectsFor(index);
  }
}

import { Command, Option } from 'commander';
import { positive, runSimulation, withSimulationOptions, type SimulationFlags } from './demo.js';

export function simulateCommand(): Command {
  return withSimulationOptions(
    new Command('simulate')
      .description('the line simulation from a recorded lot: its wafers through the whole appliance, with closed-loop control of simulated arms over Modbus TCP and MQTT telemetry, and a live status line')
      .requiredOption('--lot <dir>', 'recorded lot folder (wafer-inspect record)')
      .addOption(new Option('--pace <pace>', "recorded: keep the lot's arrival gaps; max: as fast as the appliance takes them").choices(['recorded', 'max']).default('recorded'))
      .option('--loops <n>', 'play the lot this many times', positive, 1),
  ).action(async (o: SimulationFlags & { lot: string; pace: 'recorded' | 'max'; loops: number }) => {
    // The recorded wafers carry what they carry: the arms are driven, but cannot change the lot.
    await runSimulation(o, () => ({ kind: 'lot', lot: o.lot, pace: o.pace, loops: o.loops, count: o.count }));
  });
}

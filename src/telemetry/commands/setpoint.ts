import { z } from 'zod';
import { defineCommand } from './command.js';
import { requestId } from './request-id.js';

/**
 * `set/setpoint`: a value for one parameter of one arm, by hand. Only parameters a hardware profile
 * declares writable, and only within its min..max; the step limit is the actuator's to apply, since
 * it knows the value in force. Echoed on `state/control`.
 */
export const setpointCommand = defineCommand({
  name: 'setpoint',
  state: 'control',
  schema: z.object({ id: requestId, arm: z.string().min(1), parameter: z.string().min(1), value: z.number() }).strict(),
  check(cmd, ctx) {
    const profile = ctx.profiles.get(cmd.arm);
    if (!profile) return `arm: no hardware profile "${cmd.arm}" (have ${[...ctx.profiles.keys()].join(', ') || 'none'})`;
    const p = profile.parameters[cmd.parameter];
    if (!p) return `parameter: ${cmd.arm} has no parameter "${cmd.parameter}" (has ${Object.keys(profile.parameters).join(', ')})`;
    if (!p.writable) return `parameter: ${cmd.arm}.${cmd.parameter} is not writable`;
    const unit = p.unit ? ` ${p.unit}` : '';
    if (cmd.value < p.min) return `value: expected >= ${p.min}${unit} (${cmd.arm}.${cmd.parameter} min), found ${cmd.value}`;
    if (cmd.value > p.max) return `value: expected <= ${p.max}${unit} (${cmd.arm}.${cmd.parameter} max), found ${cmd.value}`;
    return null;
  },
  apply: (cmd, ctx) => ctx.handler.setSetpoint({ arm: cmd.arm, parameter: cmd.parameter, value: cmd.value }),
});

import { z } from 'zod';
import { defineCommand } from './command.js';
import { requestId } from './request-id.js';

/** `set/mode`: automatic or manual, for one control link or every link of an arm. Echoed on `state/control`. */
export const modeCommand = defineCommand({
  name: 'mode',
  state: 'control',
  schema: z
    .object({ id: requestId, arm: z.string().min(1).optional(), link: z.string().min(1).optional(), mode: z.enum(['auto', 'manual']) })
    .strict()
    .refine((c) => (c.arm === undefined) !== (c.link === undefined), 'expected exactly one of arm or link'),
  check(cmd, ctx) {
    if (cmd.arm !== undefined && !ctx.profiles.has(cmd.arm)) return `arm: no hardware profile "${cmd.arm}" (have ${[...ctx.profiles.keys()].join(', ') || 'none'})`;
    if (cmd.link !== undefined && !ctx.links.has(cmd.link)) return `link: no control link "${cmd.link}" (have ${[...ctx.links.keys()].join(', ') || 'none'})`;
    return null;
  },
  apply: (cmd, ctx) => ctx.handler.setMode(cmd.link !== undefined ? { link: cmd.link } : { arm: cmd.arm as string }, cmd.mode),
});

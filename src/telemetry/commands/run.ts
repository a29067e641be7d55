import { z } from 'zod';
import { defineCommand } from './command.js';
import { requestId } from './request-id.js';

/** `set/run`: pause or resume taking wafers. Echoed on `state/run`. */
export const runCommand = defineCommand({
  name: 'run',
  state: 'run',
  schema: z.object({ id: requestId, action: z.enum(['pause', 'resume']) }).strict(),
  apply: (cmd, ctx) => (cmd.action === 'pause' ? ctx.handler.pause() : ctx.handler.resume()),
});

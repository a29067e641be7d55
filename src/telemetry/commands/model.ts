import { isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand } from './command.js';
import { requestId } from './request-id.js';

/**
 * `set/model`: run the line with the model in another folder (and/or the other image variant),
 * without a restart. Only a folder inside the configured model folder is taken, for the same reason
 * as recipes by path. Echoed on `state/model`; the service refuses a model that fails any check.
 */
export const modelCommand = defineCommand({
  name: 'model',
  state: 'model',
  schema: z.object({ id: requestId, path: z.string().min(1), variant: z.enum(['int8', 'fp32']).optional() }).strict(),
  check(cmd, ctx) {
    if (!ctx.modelDir) return 'path: model changes by command are off (telemetry.commands.modelDir is not set)';
    const rel = relative(ctx.modelDir, resolve(ctx.modelDir, cmd.path));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return `path: expected a model folder inside ${ctx.modelDir}, found ${JSON.stringify(cmd.path)}`;
    return null;
  },
  apply: (cmd, ctx) => ctx.handler.useModel({ path: resolve(ctx.modelDir as string, cmd.path), ...(cmd.variant ? { variant: cmd.variant } : {}) }),
});

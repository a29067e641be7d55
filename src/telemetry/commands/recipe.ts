import { isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand } from './command.js';
import { requestId } from './request-id.js';

/**
 * `set/recipe`: a new recipe, inline as YAML or as a file in the configured recipe folder. Only a
 * file inside that folder is taken, so the broker cannot point the appliance at arbitrary files.
 * Echoed on `state/recipe` with how each spec was read.
 */
export const recipeCommand = defineCommand({
  name: 'recipe',
  state: 'recipe',
  schema: z
    .object({ id: requestId, yaml: z.string().min(1).optional(), path: z.string().min(1).optional() })
    .strict()
    .refine((c) => (c.yaml === undefined) !== (c.path === undefined), 'expected exactly one of yaml or path'),
  check(cmd, ctx) {
    if (cmd.yaml !== undefined && Buffer.byteLength(cmd.yaml) > ctx.maxRecipeBytes) return `yaml: larger than ${ctx.maxRecipeBytes} bytes`;
    if (cmd.path === undefined) return null;
    if (!ctx.recipeDir) return 'path: recipes by path are off (telemetry.commands.recipeDir is not set); send the YAML instead';
    const rel = relative(ctx.recipeDir, resolve(ctx.recipeDir, cmd.path));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return `path: expected a file inside ${ctx.recipeDir}, found ${JSON.stringify(cmd.path)}`;
    return null;
  },
  apply(cmd, ctx) {
    if (cmd.yaml !== undefined) return ctx.handler.changeRecipe({ yaml: cmd.yaml });
    return ctx.handler.changeRecipe({ path: resolve(ctx.recipeDir as string, cmd.path as string) });
  },
});

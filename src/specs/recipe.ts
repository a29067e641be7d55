import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../common/issues.js';

/**
 * A recipe: the specs a wafer is inspected against (contracts §4). Each spec is plain text; the
 * optional keys override what the text says, for the cases an engineer wants to pin down exactly.
 */
export const specSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only').describe('names the spec in results'),
    text: z.string().min(1).describe('what to look for, in words'),
    kind: z.string().optional().describe('the defect class, instead of reading it from the text'),
    sizeMm: z.number().positive().optional().describe('a defect larger than this violates'),
    count: z.number().int().nonnegative().optional().describe('a wafer with more defects than this violates'),
    zone: z
      .object({ minRadiusMm: z.number().min(0).default(0), maxRadiusMm: z.number().positive().default(1000) })
      .strict()
      .optional()
      .describe('radius band of the wafer the spec applies to'),
  })
  .strict();

export const recipeSchema = z
  .object({
    recipe: z.string().optional().describe('name shown in results and on dashboards'),
    specs: z.array(specSchema).min(1),
  })
  .strict()
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.specs.forEach((s, i) => {
      if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: ['specs', i, 'id'], message: `spec id "${s.id}" is used twice` });
      seen.add(s.id);
    });
  });

export type SpecInput = z.infer<typeof specSchema>;
export type Recipe = z.infer<typeof recipeSchema>;

export class RecipeError extends Error {
  override name = 'RecipeError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
  }
}

export function parseRecipe(text: string, source: string): Recipe {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new RecipeError(source, doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`));
  const r = recipeSchema.safeParse(doc.toJS(), { reportInput: true });
  if (!r.success) throw new RecipeError(source, formatIssues(r.error.issues));
  return r.data;
}

export async function loadRecipe(path: string): Promise<Recipe> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new RecipeError(path, [(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message]);
  }
  return parseRecipe(text, path);
}

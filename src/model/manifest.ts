import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../common/issues.js';

/**
 * models/<name>/model.json: what the files of a model are, their hashes, and the shapes they take
 * and give. Loading checks every file against it, so a wrong or damaged file is an error at start.
 */
const shape = z.array(z.union([z.number().int(), z.string()]));
const onnxFile = z.object({ path: z.string(), sha256: z.string().length(64), inputs: z.record(z.string(), shape), outputs: z.record(z.string(), shape) });

/**
 * A second look at the visible frame's own pixels: crops of `cropPx` around the `perClass` highest
 * local maxima (at least `minScore`) of a class's map; per crop and class (`classes`, the output's
 * columns), the probability that the class's defect is in it and its size. The classes with a map
 * weight are judged by the crops: each crop's confidence is sigmoid(logit(probability) + weight x
 * logit(map score)), both pieces of evidence together (weights chosen on a calibration lot,
 * models/tools/map_weights.py); their findings are sized by `sizeFits` (true = slope x the verifier's
 * size + offset, give or take spread). A class without a weight is judged on the map.
 */
/** true size = slope x measured + offset, give or take spread (mm) and spreadPerMm per mm of it */
const sizeFitSchema = z.object({ slope: z.number(), offset: z.number(), spread: z.number().min(0), spreadPerMm: z.number().min(0).optional() });

const verifierSchema = z.object({
  classes: z.array(z.string()).min(1),
  mapWeights: z.record(z.string(), z.number().min(0)).default({}),
  cropPx: z.number().int().positive(),
  /** the visible pitch of the frames it was trained on: crops of other frames are resampled to it */
  mmPerPx: z.number().positive(),
  perClass: z.number().int().positive(),
  minScore: z.number().min(0).max(1),
  sizeFits: z.record(z.string(), sizeFitSchema).default({}),
  /**
   * Per class with rim places, the fit for findings sized by the rim's run standing off (true = slope x
   * its arc + offset, give or take spread) in place of `sizeFits`, which is the verifier's. Sizes move
   * no confidence, so, like `sizeFits`, it is not part of the model's id.
   */
  rimSizeFits: z.record(z.string(), sizeFitSchema).default({}),
  /** per class with die places, the same for a finding sized by a die place's extent (`Check.sizedBy` 'dies') */
  dieSizeFits: z.record(z.string(), sizeFitSchema).default({}),
  /**
   * Per class, a look around its `top` highest places: crops at the eight places `stepMm` away too,
   * the check keeping the one that shows the defect most surely, and its place. A small defect the
   * map peaks beside, a few mm off, falls outside the crop at the peak.
   */
  around: z.record(z.string(), z.object({ top: z.number().int().positive(), stepMm: z.number().positive() })).default({}),
  /**
   * Per class, places on the wafer's rim checked besides the map's: the `top` rays where the rim
   * stands furthest off its circle on one `side` (inside: a bite, outside: material beyond it), at
   * least `minMm` (model/rim.ts). A defect of a millimetre at the rim moves it more than a map cell's
   * evidence of it may show. How far it stands off is evidence too: `weight` per mm is added to the
   * check's logit (chosen with the map weights, models/tools/map_weights.py).
   */
  rim: z
    .record(z.string(), z.object({ side: z.enum(['inside', 'outside']), top: z.number().int().positive(), minMm: z.number().positive(), weight: z.number().min(0).default(0) }))
    .default({}),
  /**
   * Per class, places where the visible frame differs from its neighbouring dies (fusion/die-places.ts),
   * checked besides the map's: the first `top` of them where at least `minCount` cells stand out. A thin
   * scratch a few mm long may leave the map's cells near its place unmoved. How many cells stand out is
   * evidence too: `weight` per cell is added to the check's logit; the map's score there is weighed by
   * `mapWeight`, not the class's, the place being one the map may have missed (models/tools/map_weights.py).
   */
  dies: z
    .record(z.string(), z.object({ top: z.number().int().positive(), minCount: z.number().min(0), weight: z.number().min(0).default(0), mapWeight: z.number().min(0).default(0) }))
    .default({}),
});
export type VerifierSpec = z.infer<typeof verifierSchema>;

/** Whether a model's verifier checks die places: fusion then compares each visible frame with its dies. */
export function checksDies(m: Pick<ModelManifest, 'verifier'>): boolean {
  return Object.keys(m.verifier?.dies ?? {}).length > 0;
}

export const manifestSchema = z.object({
  format: z.literal('wafer-inspect-model/1'),
  id: z.string().min(1),
  grid: z.object({ size: z.number().int(), fieldMm: z.number(), roiRadiusMm: z.number().optional() }),
  inputChannels: z.array(z.string()),
  outputStride: z.number().int().positive(),
  embedding: z.number().int().positive(),
  classes: z.array(z.string()).min(1),
  kinds: z.array(z.string()).min(1),
  canonical: z.record(z.string(), z.string()),
  /** mean gate weight of each modality at cells holding the class (validation set): which modality the model reads it from */
  modalityWeights: z.record(z.string(), z.record(z.string(), z.number())).optional(),
  files: z.object({
    image: onnxFile,
    text: onnxFile,
    tokenizer: z.object({ path: z.string(), sha256: z.string().length(64) }),
    imageFloat: onnxFile.optional(),
    verifier: onnxFile.optional(),
  }),
  verifier: verifierSchema.optional(),
}).refine((m) => m.classes.every((c) => m.canonical[c] !== undefined), {
  message: 'every class needs a canonical phrase (the query its specs are asked with)',
  path: ['canonical'],
}).refine((m) => !m.verifier === !m.files.verifier, {
  message: 'a verifier section and a verifier file go together',
  path: ['verifier'],
}).refine((m) => !m.verifier || m.verifier.classes.every((c) => m.classes.includes(c)), {
  message: 'the verifier checks classes the model does not have',
  path: ['verifier', 'classes'],
}).refine((m) => !m.verifier || Object.keys(m.verifier.mapWeights).every((c) => m.verifier!.classes.includes(c)), {
  message: 'a map weight for a class the verifier does not check',
  path: ['verifier', 'mapWeights'],
}).refine((m) => !m.verifier || Object.keys(m.verifier.around).every((c) => m.verifier!.classes.includes(c)), {
  message: 'a look around for a class the verifier does not check',
  path: ['verifier', 'around'],
}).refine((m) => !m.verifier || Object.keys(m.verifier.rim).every((c) => m.verifier!.classes.includes(c)), {
  message: 'rim places for a class the verifier does not check',
  path: ['verifier', 'rim'],
}).refine((m) => !m.verifier || Object.keys(m.verifier.dies).every((c) => m.verifier!.classes.includes(c)), {
  message: 'die places for a class the verifier does not check',
  path: ['verifier', 'dies'],
}).refine((m) => !m.verifier || Object.keys(m.verifier.dieSizeFits).every((c) => c in m.verifier!.dies), {
  message: 'a die size fit for a class without die places',
  path: ['verifier', 'dieSizeFits'],
}).refine((m) => !m.verifier || Object.keys(m.verifier.rimSizeFits).every((c) => c in m.verifier!.rim), {
  message: 'a rim size fit for a class without rim places',
  path: ['verifier', 'rimSizeFits'],
});

/** The classes a model judges by its verifier's crops (the rest on the map). */
export function verifiedClasses(m: ModelManifest): string[] {
  return m.verifier ? m.verifier.classes.filter((c) => m.verifier!.mapWeights[c] !== undefined) : [];
}
export type ModelManifest = z.infer<typeof manifestSchema>;
export type OnnxFile = z.infer<typeof onnxFile>;

export class ModelError extends Error {
  override name = 'ModelError';
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const path = join(dir, 'model.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelError(`model ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`model ${path}: not JSON: ${(e as Error).message}`);
  }
  const r = manifestSchema.safeParse(json, { reportInput: true });
  if (!r.success) throw new ModelError(`model ${path}: ${formatIssues(r.error.issues).join('; ')}`);
  return r.data;
}

/** The bytes of a model file, after checking them against the manifest's hash. */
export async function readVerified(dir: string, file: { path: string; sha256: string }): Promise<Buffer> {
  const path = join(dir, file.path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ModelError(`model file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`);
  }
  const got = sha256(bytes);
  if (got !== file.sha256) throw new ModelError(`model file ${path}: sha256 ${got.slice(0, 12)}… does not match the manifest's ${file.sha256.slice(0, 12)}…`);
  return bytes;
}

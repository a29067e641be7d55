import { z } from 'zod';
import { LOOKS } from '../sim/look.js';

/**
 * The recorded-lot format (contracts §2). Readers ignore keys they do not know, so newer writers
 * can add optional keys without breaking older readers.
 */
const affine = z.tuple([z.tuple([z.number(), z.number(), z.number()]), z.tuple([z.number(), z.number(), z.number()])]);

/**
 * Optional, written by the synthetic line: what rendered the lot, so tools can regenerate each
 * wafer's exact defect shapes (training masks) from its `sim.index`. Readers that do not know it ignore it.
 */
export const syntheticOriginSchema = z.object({
  seed: z.number().int(),
  defectRate: z.number(),
  maxDefects: z.number().int(),
  classWeights: z.record(z.string(), z.number()).optional(),
  station: z.unknown().describe('the simulated station spec'),
  /** the look's ranges (src/sim/look.ts); absent: default */
  look: z.enum(LOOKS).optional(),
});

export const lotMetaSchema = z.object({
  lot: z.string().optional(),
  station: z.string().optional(),
  waferDiameterMm: z.number().positive().optional(),
  rateHz: z.number().positive().optional(),
  geometry: z
    .object({
      visible: z.object({ pxToMm: affine }).optional(),
      infrared: z.object({ pxToMm: affine }).optional(),
      xray: z.object({ pxToMm: affine }).optional(),
    })
    .optional(),
  synthetic: syntheticOriginSchema.optional(),
});
export type LotMeta = z.infer<typeof lotMetaSchema>;

const framePath = z.string().min(1).nullable().optional();

export const truthSchema = z.object({
  class: z.string().min(1),
  xMm: z.number(),
  yMm: z.number(),
  sizeMm: z.number().nonnegative(),
});

export const manifestLineSchema = z.object({
  wafer: z.string().min(1),
  atMs: z.number().nonnegative().optional(),
  frames: z.object({ visible: framePath, infrared: framePath, xray: framePath }),
  truth: z.array(truthSchema).optional(),
  /** synthetic lots only: the wafer's index on the line that rendered it */
  sim: z.object({ index: z.number().int().nonnegative() }).optional(),
});
export type ManifestLine = z.infer<typeof manifestLineSchema>;

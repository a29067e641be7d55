import { z } from 'zod';
import { DEFECT_CLASSES } from '../common/defects.js';
import { stabilityProblem } from './stability.js';

/**
 * Links from a defect statistic to one process parameter of one arm. Refused at load unless the
 * controller is stable for every true gain in `trueGain`.
 */

export const STATISTICS = ['rate', 'count-per-wafer', 'mean-size-mm'] as const;
export type Statistic = (typeof STATISTICS)[number];

const controller = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ewma'), weight: z.number().gt(0).lte(1).default(0.3) }).strict(),
  z
    .object({
      kind: z.literal('dewma'),
      weight: z.number().gt(0).lte(1).default(0.3),
      driftWeight: z.number().gt(0).lte(1).default(0.1).describe('weight of the drift (tool wear) estimate'),
    })
    .strict(),
]);

const source = z
  .object({ spec: z.string().min(1).optional(), class: z.enum(DEFECT_CLASSES).optional() })
  .strict()
  .refine((s) => (s.spec === undefined) !== (s.class === undefined), 'expected exactly one of spec or class');

export const linkSchema = z
  .object({
    id: z.string().min(1),
    source,
    statistic: z.enum(STATISTICS).default('rate'),
    arm: z.string().min(1).describe('hardware profile id'),
    parameter: z.string().min(1),
    target: z.number().describe('the statistic the loop holds, e.g. 0.01 = 1% of wafers'),
    gain: z.number().refine((g) => g !== 0, 'expected a non-zero gain').describe('model gain: change of the statistic per unit of the parameter'),
    trueGain: z.object({ min: z.number(), max: z.number() }).strict().describe('the range the real gain may lie in'),
    controller: controller.default({ kind: 'ewma', weight: 0.3 }),
    deadband: z.number().min(0).default(0).describe('no move while the predicted statistic is within this of the target'),
    outlier: z
      .object({
        maxResidual: z.number().positive().describe('an observation this far from the prediction is held back'),
        confirmAfter: z.number().int().min(1).default(3).describe('after this many in a row on one side it is taken as real'),
      })
      .strict()
      .optional(),
    staleAfterMs: z.number().int().positive().default(30 * 60_000).describe('freeze when no observation arrived for this long'),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.trueGain.min > l.trueGain.max) ctx.addIssue({ code: 'custom', path: ['trueGain', 'max'], message: `expected >= trueGain.min (${l.trueGain.min})`, input: l.trueGain.max });
    const p = stabilityProblem(l.controller, l.gain, l.trueGain.min, l.trueGain.max);
    if (p) ctx.addIssue({ code: 'custom', path: ['controller'], message: `unstable: ${p}` });
  });

export const controlSchema = z
  .object({ links: z.array(linkSchema).default([]) })
  .strict()
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    const writers = new Map<string, string>();
    c.links.forEach((l, i) => {
      if (ids.has(l.id)) ctx.addIssue({ code: 'custom', path: ['links', i, 'id'], message: 'duplicate link id', input: l.id });
      ids.add(l.id);
      // One writer per register: two loops on one parameter would fight each other.
      const key = `${l.arm}.${l.parameter}`;
      const other = writers.get(key);
      if (other) ctx.addIssue({ code: 'custom', path: ['links', i, 'parameter'], message: `${key} is already driven by link ${other}`, input: l.parameter });
      writers.set(key, l.id);
    });
  });

export type LinkConfig = z.infer<typeof linkSchema>;
export type ControlConfig = z.infer<typeof controlSchema>;

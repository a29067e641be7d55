import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command } from 'commander';
import { localMaxima } from '../model/candidates.js';
import { scoreMap } from '../model/map.js';
import { forEachScored, unusableNote } from '../inspection/scored.js';
import { canonicalQueries, loadModel, variantFile } from '../model/load.js';
import { int, num } from './args.js';
import { GRID, withInspectOptions, type InspectOptions } from './inspect-options.js';

/**
 * Per wafer, where each class's map peaks, down to scores far below any threshold: the places a
 * defect the model scores too low would be, to look at in the frames themselves (models/README.md,
 * "The visible frame's own pixels").
 */
export function modelCandidatesCommand(): Command {
  return withInspectOptions(
    new Command('candidates')
      .description("write, per wafer of a lot, each class's highest local maxima of the model's map (place in wafer mm and raw score) as JSON lines, with the lot's truth; for a model with a verifier, the classes it has an output for are its own checks (its manifest's count per class), each with the crop's probability and the confidence the judge thresholds, and for a place found on the rim (verifier.rim) how far the rim stands off its circle there (rimMm) and the arc it stands off (rimArcMm), and for a place where the frame differs from its dies (verifier.dies) the cells standing out there (dieCount) and the extent differing (dieExtentMm); each check's size (sizeMm), marked sizedBy rim where it is a rim run's arc and dies where it is a die place's extent")
      .argument('<source>', 'a recorded lot folder, or dataset chunks (e.g. data/test-*)')
      .requiredOption('--out <file>', 'JSON lines to write')
      .option('--per-class <n>', 'local maxima kept per class', int('--per-class'), 6)
      .option('--min-score <s>', 'lowest raw score kept', num('--min-score'), 0.01),
  ).action(async (source: string, o: InspectOptions & { out: string; perClass: number; minScore: number }) => {
    // a file that cannot be written fails here, not after the lot has been scored
    const out = createWriteStream(o.out);
    await once(out, 'open');
    const model = await loadModel(o.model, GRID, { variant: variantFile(o.variant) });
    try {
      const classes = model.manifest.classes;
      // a model with a verifier: its checks (place, map score, probability, confidence) for every class it has an output for
      const verifier = model.manifest.verifier;
      const queries = verifier ? await canonicalQueries(model, true) : await canonicalQueries(model);
      const map = scoreMap(model.manifest);
      const cells = map.size * map.size;
      const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;
      const r = await forEachScored(source, model, queries, { stationDir: o.station, grid: GRID }, (w) => {
        const candidates = Object.fromEntries(
          classes.map((c, j) => [
            c,
            w.checks?.[j]
              ? w.checks[j]!.map((p) => ({ xMm: round(p.xMm, 2), yMm: round(p.yMm, 2), score: round(p.score, 4), prob: round(p.prob, 6), confidence: round(p.confidence, 6), sizeMm: round(p.sizeMm, 2), ...(p.rimMm !== undefined ? { rimMm: round(p.rimMm, 3), rimArcMm: round(p.rimArcMm ?? 0, 2) } : {}), ...(p.dieCount !== undefined ? { dieCount: p.dieCount, dieExtentMm: round(p.dieExtentMm ?? 0, 2) } : {}), ...(p.sizedBy ? { sizedBy: p.sizedBy } : {}) }))
              : localMaxima(w.scores, map, { top: o.perClass, min: o.minScore, offset: j * cells }).map((p) => ({ xMm: round(p.xMm, 2), yMm: round(p.yMm, 2), score: round(p.score, 4) })),
          ]),
        );
        out.write(JSON.stringify({ wafer: w.wafer, truth: w.truth ?? [], candidates }) + '\n');
      });
      process.stdout.write(`${model.id}: ${r.scored} wafers${r.unusable ? `; ${unusableNote(r)}` : ''}, candidates in ${o.out}\n`);
    } finally {
      out.end();
      await once(out, 'finish');
      await model.close();
    }
  });
}

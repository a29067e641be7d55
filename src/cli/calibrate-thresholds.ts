import { Command } from 'commander';
import { MODALITIES, type Modality } from '../common/modality.js';
import { ThresholdCalibration, withoutEntry, type CalibratedSpec } from '../inspection/calibrate.js';
import { forEachScored, unusableNote } from '../inspection/scored.js';
import { scoreMap } from '../model/map.js';
import { loadModel, variantFile } from '../model/load.js';
import { verifiedClasses } from '../model/manifest.js';
import { defaultReadOptions, readRecipe } from '../specs/read.js';
import { loadRecipe } from '../specs/recipe.js';
import { readThresholds, roundThreshold, writeThresholds, type ModelThresholds } from '../specs/thresholds.js';
import { GRID, rate, thresholdsPath, withInspectOptions, type InspectOptions } from './inspect-options.js';

export function calibrateThresholdsCommand(): Command {
  return withInspectOptions(
    new Command('thresholds')
      .description(
        "pick each spec's score threshold for a target false-reject rate on known-good wafers, and again with each modality left out as a missing frame is (for the specs that do not need it), and write the station's thresholds file",
      )
      .requiredOption('--good <source>', 'known-good wafers: a recorded lot folder, several (e.g. data/lot-*: every lot folder it matches), or dataset chunks (e.g. data/good-*); wafers with defects in their truth are used as --defects')
      .option('--defects <source>', 'wafers with known defects (a source as for --good), to report recall at the chosen thresholds, share the false-reject budget among the specs and fit sizes')
      .option('--target-frr <rate>', 'false-reject rate on good wafers, for all specs together', rate, 0.003)
      .option('--recipe <file>', "also calibrate this recipe's specs that have a zone (every class is always calibrated; other specs use their class's threshold)")
      .option('--out <file>', 'thresholds file to write (default: the station\'s)'),
  ).action(async (o: InspectOptions & { good: string; defects?: string; targetFrr: number; recipe?: string; out?: string }) => {
    const model = await loadModel(o.model, GRID, { variant: variantFile(o.variant) });
    try {
      const classes = model.manifest.classes;
      const canonical = await model.text.read(classes.map((c) => model.manifest.canonical[c]));
      const verified = (kind: string): { by?: 'crops' } => (verifiedClasses(model.manifest).includes(kind) ? { by: 'crops' } : {});
      const specs: Array<CalibratedSpec & { query: Float32Array }> = classes.map((c, j) => ({ text: model.manifest.canonical[c], kind: c, query: canonical[j].embedding, ...verified(c) }));
      if (o.recipe) {
        // a recipe's spec is asked with its kind's query, as at run time, so only a zone (fewer cells that
        // can raise a good wafer's score) gives it a threshold of its own; the rest use their class's
        const { specs: read, rejected } = await readRecipe(await loadRecipe(o.recipe), model.text, defaultReadOptions(model.manifest.canonical));
        for (const r of rejected) process.stderr.write(`spec ${r.id} left out: ${r.reason}\n`);
        for (const s of read) if (s.zone && !specs.some((x) => x.text === s.text)) specs.push({ text: s.text, kind: s.kind, query: s.query, zone: s.zone, ...verified(s.kind) });
      }
      const queries = model.image.queries(
        specs.map((s) => s.query),
        specs.map((s) => s.kind),
      );
      // the good wafers as captured and with each modality left out, in one pass: a model reads a wafer
      // without a modality differently, so its thresholds are calibrated apart
      const views: Modality[][] = [[], ...MODALITIES.map((m) => [m])];
      const cals = views.map(() => new ThresholdCalibration(specs, scoreMap(model.manifest)));
      const [cal] = cals;
      const fusion = { stationDir: o.station, grid: GRID };
      const good = await forEachScored(o.good, model, queries, fusion, (w, v) => cals[v].add(w), views);
      if (good.scored === 0) throw new Error(`${o.good}: no wafer could be scored${good.unusable ? `, ${unusableNote(good)}` : ''}`);
      const bad = o.defects ? await forEachScored(o.defects, model, queries, fusion, (w) => cal.add(w)) : { scored: 0, unusable: 0 };
      const r = cal.result(o.targetFrr);
      for (const [name, n] of [['--good', good], ['--defects', bad]] as const) if (n.unusable) process.stdout.write(`${name}: ${unusableNote(n)}\n`);
      process.stdout.write(
        `${model.id}: ${r.goodWafers} good wafers; target ${(o.targetFrr * 100).toFixed(2)}% false rejects over ${specs.length} specs, expected on new good wafers at most ${(r.expectedFrr * 100).toFixed(4)}%\n`,
      );
      if (!r.meetsTarget) process.stdout.write(`  too few good wafers for the target: each threshold is the highest good score; ${r.goodWafersNeeded} good wafers would meet it\n`);
      for (const s of r.specs) {
        process.stdout.write(
          `  ${s.kind.padEnd(10)} "${s.text}": threshold ${s.threshold.toFixed(4)} (good score ${s.rank} of ${r.goodWafers} from the top; highest ${s.goodMax.toFixed(4)})${s.recall === null ? '' : `, recall ${(s.recall * 100).toFixed(1)}%`}\n`,
        );
      }
      for (const [c, f] of Object.entries(r.sizeFits)) {
        process.stdout.write(`  size ${c.padEnd(10)} true = ${f.slope} x measured ${f.offset < 0 ? '-' : '+'} ${Math.abs(f.offset)} mm, spread ${f.spread} mm (${f.samples} defects)\n`);
      }
      const without: ModelThresholds['without'] = {};
      for (const [i, m] of MODALITIES.entries()) {
        const entry = withoutEntry(specs, classes.length, cals[i + 1].result(o.targetFrr, r.specs.map((s) => s.rank)).specs.map((s) => s.threshold), m);
        process.stdout.write(`  without ${m}: ${Object.entries(entry.kinds).map(([kind, k]) => `${kind} ${k.threshold.toFixed(4)}`).join(', ')}\n`);
        without[m] = entry;
      }
      const path = o.out ?? thresholdsPath(o);
      const file = await readThresholds(path);
      const kinds = Object.fromEntries(
        classes.map((c, j) => [c, { threshold: roundThreshold(r.specs[j].threshold), ...(r.sizeFits[c] ? { sizeFit: { slope: r.sizeFits[c].slope, offset: r.sizeFits[c].offset, spread: r.sizeFits[c].spread } } : {}) }]),
      );
      file.models[model.id] = {
        producedBy: `wafer-inspect calibrate thresholds --model ${o.model} --variant ${o.variant} --good ${o.good}${o.defects ? ` --defects ${o.defects}` : ''} --target-frr ${o.targetFrr}${o.recipe ? ` --recipe ${o.recipe}` : ''}`,
        targetFalseRejectRate: o.targetFrr,
        expectedFalseRejectRate: Math.round(r.expectedFrr * 1e6) / 1e6,
        goodWafers: r.goodWafers,
        kinds,
        specs: r.specs.slice(classes.length).map((s) => ({ text: s.text, threshold: roundThreshold(s.threshold) })),
        without,
      };
      await writeThresholds(path, file);
      process.stdout.write(`wrote ${path}\n`);
    } finally {
      await model.close();
    }
  });
}


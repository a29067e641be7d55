import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ReplayCapture } from '../capture/replay.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { median } from '../common/percentiles.js';
import { FusionStage } from '../fusion/stage.js';
import { compareJson, compareTable, type CompareSide } from '../inspection/compare.js';
import { Inspector, type InspectedWafer } from '../inspection/inspector.js';
import { scoreReplay } from '../inspection/score.js';
import { prepareSpecs } from '../inspection/setup.js';
import { loadModel, variantFile, type Variant } from '../model/load.js';
import { sha256 } from '../model/manifest.js';
import { newStats, runLine } from '../service/line.js';
import { loadRecipe, type Recipe } from '../specs/recipe.js';
import { forModel, readThresholds, type Thresholds } from '../specs/thresholds.js';
import { GRID } from './inspect-options.js';

const WARM_UP = 8;

interface CompareFlags {
  lot: string;
  recipe: string;
  variant: Variant;
  variantA?: Variant;
  variantB?: Variant;
  station: string;
  thresholds?: string;
  out?: string;
}

/**
 * Two models over the same recorded lot, each through the whole replay path (fusion, model, verdict)
 * with its own calibrated thresholds, scored against the lot's truth. One after the other, so that
 * neither slows the other down, each timed after a few wafers of warm-up.
 */
export function modelCompareCommand(): Command {
  return new Command('compare')
    .description("run two model folders over the same labelled lot: per-class recall, false rejects, localisation and speed side by side")
    .argument('<a>', 'model folder A (e.g. the one in use)')
    .argument('<b>', 'model folder B (e.g. the candidate)')
    .requiredOption('--lot <dir>', 'recorded lot with truth (contracts §2)')
    .option('--recipe <file>', 'specs to judge with', join(PACKAGE_ROOT, 'deploy/recipe.example.yaml'))
    .addOption(new Option('--variant <v>', 'image model of both').choices(['int8', 'fp32']).default('fp32'))
    .addOption(new Option('--variant-a <v>', 'image model of A (default: --variant)').choices(['int8', 'fp32']))
    .addOption(new Option('--variant-b <v>', 'image model of B (default: --variant)').choices(['int8', 'fp32']))
    .option('--station <dir>', 'station calibration folder', join(PACKAGE_ROOT, 'calibration/reference'))
    .option('--thresholds <file>', 'score thresholds (default: thresholds.yaml in the station folder)')
    .option('--out <file>', 'also write the figures as JSON')
    .action(async (a: string, b: string, o: CompareFlags) => {
      const recipe = await loadRecipe(o.recipe);
      const path = o.thresholds ?? join(o.station, 'thresholds.yaml');
      const thresholds = await readThresholds(path);
      // either side may crop the visible frame; a side that does not leaves it
      const fusion = new FusionStage({ stationDir: o.station, grid: GRID, keepVisible: true });
      try {
        await fusion.ready();
        const sides: CompareSide[] = [];
        for (const [dir, variant] of [
          [a, o.variantA ?? o.variant],
          [b, o.variantB ?? o.variant],
        ] as const) {
          sides.push(await runSide({ dir, variant, lot: o.lot, recipe, thresholds, thresholdsPath: path, fusion }));
        }
        const [sa, sb] = sides;
        const labelled = sa.score?.labelled ?? sb.score?.labelled;
        process.stdout.write(`lot ${o.lot}: ${Math.max(sa.wafers, sb.wafers)} wafers${labelled !== undefined ? ` (${labelled} with truth)` : ''}, recipe ${o.recipe}, thresholds ${path}\n`);
        for (const [k, s] of [['A', sa], ['B', sb]] as const) {
          process.stdout.write(`${k}: ${s.id} (${s.variant}) from ${s.dir}, manifest sha256 ${s.manifestSha256}\n`);
          if (s.noThresholds) process.stdout.write(`${k}: NO CALIBRATED THRESHOLDS: ${s.noThresholds}; its recall and false rejects are not given (never judged with another model's thresholds)\n`);
          for (const r of s.rejected) process.stdout.write(`${k}: spec ${r.id} ("${r.text}") not judged: ${r.reason}\n`);
        }
        process.stdout.write('\n' + compareTable(sa, sb).join('\n') + '\n\n');
        const json = compareJson(o.lot, o.recipe, sa, sb);
        if (o.out) await writeFile(o.out, JSON.stringify(json, null, 2) + '\n');
        process.stdout.write(JSON.stringify(json) + '\n');
        if (sa.noThresholds || sb.noThresholds) process.exitCode = 1;
      } finally {
        await fusion.close();
      }
    });
}

async function runSide(o: { dir: string; variant: Variant; lot: string; recipe: Recipe; thresholds: Thresholds; thresholdsPath: string; fusion: FusionStage }): Promise<CompareSide> {
  const manifestSha256 = sha256(await readFile(join(o.dir, 'model.json')).catch(() => Buffer.alloc(0)));
  const model = await loadModel(o.dir, GRID, { variant: variantFile(o.variant) });
  try {
    const side: CompareSide = { dir: o.dir, variant: o.variant, id: model.id, manifestSha256, classes: model.manifest.classes, noThresholds: null, rejected: [], kinds: [], score: null, wafers: 0, seconds: 0, modelMsPerWafer: null };
    let mine;
    try {
      mine = forModel(o.thresholds, model.id, o.thresholdsPath);
    } catch (e) {
      return { ...side, noThresholds: (e as Error).message };
    }
    const { specs, rejected } = await prepareSpecs(o.recipe, model, mine);
    if (specs.length === 0) throw new Error(`${model.id} reads none of the recipe's specs: ${rejected.map((r) => `${r.id}: ${r.reason}`).join('; ')}`);
    const inspector = new Inspector(model, specs, (t) => o.fusion.recycle(t));
    // the first batches of a fresh session and fusion workers are slow; neither side is timed with them
    await runLine({ capture: new ReplayCapture({ lot: o.lot, pace: 'max', count: WARM_UP }), fusion: o.fusion, maxInFlight: o.fusion.workers * 2 + model.image.options.maxBatch, next: (w) => inspector.inspect(w) });
    const stats = newStats();
    const items: InspectedWafer[] = [];
    const modelMs: number[] = [];
    await runLine({
      capture: new ReplayCapture({ lot: o.lot, pace: 'max' }),
      fusion: o.fusion,
      stats,
      maxInFlight: o.fusion.workers * 2 + model.image.options.maxBatch,
      next: (w) => inspector.inspect(w),
      onWafer: (w) => {
        items.push(w);
        if (w.modelMs !== undefined) modelMs.push(w.modelMs);
      },
    });
    const seconds = (performance.now() - stats.startedAt) / 1000;
    return { ...side, rejected, kinds: specs.map((s) => s.kind), score: scoreReplay(items, specs), wafers: stats.wafersOut, seconds, modelMsPerWafer: modelMs.length ? median(modelMs) : null };
  } finally {
    await model.close();
  }
}

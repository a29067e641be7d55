import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { sourceVisibleGeometry } from '../capture/driver.js';
import { ReplayCapture } from '../capture/replay.js';
import { FusionStage } from '../fusion/stage.js';
import { Inspector, type InspectedWafer } from '../inspection/inspector.js';
import { klarf } from '../inspection/klarf.js';
import { scoreReplay } from '../inspection/score.js';
import { prepareSpecs } from '../inspection/setup.js';
import { loadModel, variantFile } from '../model/load.js';
import { checksDies } from '../model/manifest.js';
import { newStats, runLine } from '../service/line.js';
import { loadRecipe } from '../specs/recipe.js';
import { forModel, readThresholds } from '../specs/thresholds.js';
import { GRID, thresholdsPath, withInspectOptions, type InspectOptions } from './inspect-options.js';

interface ReplayFlags extends InspectOptions {
  recipe: string;
  out: string;
  pace: 'recorded' | 'max';
  score?: boolean;
  klarf?: string;
}

export function replayCommand(): Command {
  return withInspectOptions(
    new Command('replay')
      .description('run the whole inspection on a recorded lot and write one result record per wafer (contracts §5), then a summary')
      .argument('<lot>', 'recorded lot folder')
      .requiredOption('--recipe <file>', 'recipe with the specs to inspect against')
      .requiredOption('--out <file>', 'results.jsonl to write')
      .addOption(new Option('--pace <pace>', 'recorded: keep the lot\'s arrival gaps; max: as fast as it goes').choices(['recorded', 'max']).default('max'))
      .option('--score', 'compare the verdicts with the lot\'s truth: recall per class, false rejects, localisation error')
      .option('--klarf <file>', 'also write the lot\'s findings as a KLARF file'),
  ).action(async (lot: string, o: ReplayFlags) => {
    const recipe = await loadRecipe(o.recipe);
    const model = await loadModel(o.model, GRID, { variant: variantFile(o.variant) });
    const fusion = new FusionStage({ stationDir: o.station, grid: GRID, keepVisible: model.manifest.verifier !== undefined, comparesDies: checksDies(model.manifest) });
    try {
      const path = thresholdsPath(o);
      const capture = new ReplayCapture({ lot, pace: o.pace });
      const visible = await sourceVisibleGeometry(capture, o.station);
      const { specs, rejected } = await prepareSpecs(recipe, model, forModel(await readThresholds(path), model.id, path), { visible });
      if (rejected.length) {
        for (const r of rejected) process.stderr.write(`spec ${r.id} ("${r.text}"): ${r.reason}\n`);
        throw new Error(`${rejected.length} spec(s) of ${o.recipe} could not be read; nothing was inspected`);
      }
      await fusion.ready();
      const inspector = new Inspector(model, specs, (t) => fusion.recycle(t));
      const out = createWriteStream(o.out);
      const stats = newStats();
      const items: InspectedWafer[] = [];
      const verdicts = { pass: 0, fail: 0, 'not-inspected': 0 };
      const bySpec: Record<string, number> = Object.fromEntries(specs.map((s) => [s.id, 0]));
      await runLine({
        capture,
        fusion,
        stats,
        maxInFlight: fusion.workers * 2 + model.image.options.maxBatch,
        next: (w) => inspector.inspect(w),
        onWafer: (w) => {
          out.write(JSON.stringify(w.record) + '\n');
          verdicts[w.record.verdict]++;
          for (const s of new Set(w.record.findings.map((f) => f.spec))) bySpec[s]++;
          items.push(o.score || o.klarf ? w : { record: { ...w.record, findings: [] } });
        },
      });
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      const secs = (performance.now() - stats.startedAt) / 1000;
      process.stdout.write(`${lot}: ${stats.wafersOut} wafers in ${secs.toFixed(1)} s (${(stats.wafersOut / secs).toFixed(1)} wafers/s), results in ${o.out}\n`);
      process.stdout.write(`verdicts: ${verdicts.pass} pass, ${verdicts.fail} fail, ${verdicts['not-inspected']} not inspected\n`);
      process.stdout.write(`wafers failing each spec: ${Object.entries(bySpec).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
      if (o.score) {
        const s = scoreReplay(items, specs);
        process.stdout.write(`score against truth (${s.labelled} labelled wafers):\n`);
        const unjudged = (n: number) => (n ? `; ${n} more not inspected` : '');
        const pct = (r: number) => (Number.isNaN(r) ? 'n/a' : `${(r * 100).toFixed(2)}%`);
        process.stdout.write(`  wafer recall ${pct(s.waferRecall)} (${s.failed} of ${s.shouldFail} wafers with a defect that breaks a spec${unjudged(s.shouldFailNotInspected)})\n`);
        process.stdout.write(`  false rejects ${pct(s.falseRejectRate)} (${s.falseRejects} of ${s.goodJudged} good wafers${unjudged(s.good - s.goodJudged)})\n`);
        for (const [c, x] of Object.entries(s.perClass)) {
          const sizes = x.bySize.map((b) => `${b.toMm === null ? `>= ${b.fromMm}` : `${b.fromMm}-${b.toMm}`} mm ${b.found}/${b.positives}`).join(', ');
          process.stdout.write(`  ${c.padEnd(10)} recall ${(x.recall * 100).toFixed(1)}% (${x.found}/${x.positives}); by size: ${sizes}\n`);
        }
        process.stdout.write(`  localisation error, median ${s.localisationMedianMm.toFixed(2)} mm\n`);
        process.stdout.write(JSON.stringify({ bench: 'replay-score', lot, wafers: stats.wafersOut, wafersPerS: stats.wafersOut / secs, ...s }) + '\n');
      }
      if (o.klarf) {
        const lotId = capture.meta?.lot ?? lot;
        await writeFile(o.klarf, klarf(items.map((i) => i.record), { lot: lotId, station: basename(o.station), recipe: recipe.recipe ?? o.recipe, classes: model.manifest.classes, waferDiameterMm: capture.meta?.waferDiameterMm ?? 300, timestamp: new Date() }));
        process.stdout.write(`KLARF: ${o.klarf}\n`);
      }
    } finally {
      await fusion.close();
      await model.close();
    }
  });
}

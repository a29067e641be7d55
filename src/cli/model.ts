import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { MODALITIES, type Modality } from '../common/modality.js';
import { report, scoreClasses } from '../model/evaluate.js';
import { DEFAULT_MODEL, loadModel, variantFile } from '../model/load.js';
import { NEEDED_MODALITIES } from '../specs/read.js';
import { num } from './args.js';
import { modelCandidatesCommand } from './model-candidates.js';
import { modelCompareCommand } from './model-compare.js';
import { modelUseCommand } from './model-use.js';

export function modelCommand(): Command {
  const cmd = new Command('model').description('the inspection model: evaluate it, list where its maps peak, compare two on a lot, change the one a running appliance uses');
  cmd
    .command('eval')
    .description('per-class AUROC, recall and false-reject of the model on dataset chunks (wafer-inspect dataset output)')
    .requiredOption('--data <pattern>', 'test chunks, e.g. data/test-*')
    .option('--val <pattern>', 'chunks the thresholds are chosen on (default: the test chunks themselves)')
    .option('--model <dir>', 'model folder', DEFAULT_MODEL)
    .addOption(new Option('--variant <v>', 'image model to run').choices(['int8', 'fp32']).default('fp32'))
    .option('--frr <rate>', 'false-reject rate the thresholds are set for', num('--frr'), 0.003)
    .addOption(
      new Option('--hide <modality>', 'score the test chunks as if this modality\'s frames were missing (thresholds still from --val as captured); classes that need it are left out').choices([
        ...MODALITIES,
      ]),
    )
    .option('--out <file>', 'also write the figures as JSON')
    .action(async (o: { data: string; val?: string; model: string; variant: 'int8' | 'fp32'; frr: number; hide?: Modality; out?: string }) => {
      const model = await loadModel(o.model, { size: 256, fieldMm: 320 }, { variant: variantFile(o.variant) });
      try {
        const t0 = performance.now();
        const hide = o.hide ? [o.hide] : [];
        const progress = (n: number) => n % 250 === 0 && process.stderr.write(`scored ${n} wafers\n`);
        const test = await scoreClasses(model, o.data, progress, hide);
        const tune = o.val ? await scoreClasses(model, o.val) : hide.length ? await scoreClasses(model, o.data) : test;
        // a class that needs the hidden modality is not inspected without it (contracts §3): no figure to give
        const checked = model.manifest.classes.filter((c) => !hide.some((m) => NEEDED_MODALITIES[c]?.includes(m)));
        const all = report(model.manifest.classes, test, tune, o.frr);
        const r = Object.fromEntries(checked.map((c) => [c, all[c]]));
        const secs = (performance.now() - t0) / 1000;
        const without = o.hide ? ` without ${o.hide} (not checked: ${model.manifest.classes.filter((c) => !checked.includes(c)).join(', ') || 'none'})` : '';
        process.stdout.write(`${model.id} (${o.variant}) on ${test.length} wafers of ${o.data}${without}; thresholds for ${(o.frr * 100).toFixed(2)}% false rejects on ${o.val ?? o.data}\n`);
        process.stdout.write('class        AUROC    pos   recall  false-reject\n');
        for (const [c, x] of Object.entries(r)) {
          process.stdout.write(`${c.padEnd(11)} ${x.auroc.toFixed(4)}  ${String(x.positives).padStart(5)}  ${(x.recall * 100).toFixed(1).padStart(6)}%  ${(x.falseReject * 100).toFixed(2).padStart(6)}%\n`);
        }
        const json = { bench: 'model-eval', model: model.id, variant: o.variant, hide: o.hide ?? null, wafers: test.length, seconds: Math.round(secs), frr: o.frr, classes: r };
        if (o.out) await writeFile(o.out, JSON.stringify(json, null, 2) + '\n');
        process.stdout.write(JSON.stringify(json) + '\n');
      } finally {
        await model.close();
      }
    });
  cmd.addCommand(modelCandidatesCommand());
  cmd.addCommand(modelCompareCommand());
  cmd.addCommand(modelUseCommand());
  return cmd;
}

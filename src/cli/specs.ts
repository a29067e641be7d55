import { Command } from 'commander';
import { explain, prepareSpecs } from '../inspection/setup.js';
import { loadModel, variantFile } from '../model/load.js';
import { visibleGeometry } from '../station/load.js';
import { loadRecipe, RecipeError } from '../specs/recipe.js';
import { forModel, readThresholds, ThresholdsError } from '../specs/thresholds.js';
import { GRID, thresholdsPath, withInspectOptions, type InspectOptions } from './inspect-options.js';

export function specsCommand(): Command {
  const cmd = new Command('specs').description('defect specs: how the appliance reads them');
  cmd.addCommand(
    withInspectOptions(new Command('explain').description('print how every spec of a recipe was read (kind and confidence, limit, zone, threshold, modalities); exit 1 if any is rejected').argument('<recipe>', 'recipe YAML')).action(
      async (recipePath: string, o: InspectOptions) => {
        let recipe;
        try {
          recipe = await loadRecipe(recipePath);
        } catch (e) {
          if (!(e instanceof RecipeError)) throw e;
          process.stderr.write(`${e.message}\n`);
          process.exitCode = 1;
          return;
        }
        const model = await loadModel(o.model, GRID, { variant: variantFile(o.variant) });
        try {
          const path = thresholdsPath(o);
          const thresholds = forModel(await readThresholds(path), model.id, path);
          const { specs, rejected, thresholdFrom } = await prepareSpecs(recipe, model, thresholds, { visible: await visibleGeometry(o.station) });
          process.stdout.write(`${recipe.recipe ?? recipePath}, read by ${model.id}:\n`);
          const expected = thresholds.expectedFalseRejectRate;
          process.stdout.write(
            `thresholds from ${path}: ${thresholds.goodWafers} good wafers, target ${(thresholds.targetFalseRejectRate * 100).toFixed(2)}% false rejects${expected === undefined ? '' : `, expected on new good wafers at most ${(expected * 100).toFixed(4)}%${expected > thresholds.targetFalseRejectRate ? ' (too few good wafers for the target)' : ''}`}\n\n`,
          );
          for (const s of specs) process.stdout.write(explain(s, thresholdFrom[s.id]) + '\n\n');
          for (const r of rejected) process.stdout.write(`${r.id}: "${r.text}"\n  REJECTED: ${r.reason}\n\n`);
          if (rejected.length) process.exitCode = 1;
        } catch (e) {
          if (!(e instanceof ThresholdsError)) throw e;
          process.stderr.write(`${e.message}\n`);
          process.exitCode = 1;
        } finally {
          await model.close();
        }
      },
    ),
  );
  return cmd;
}

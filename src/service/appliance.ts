import type { Affine } from '../common/affine.js';
import type { Logger } from '../common/log.js';
import { modelDir, recipePath, stationDir, thresholdsFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FusionStage } from '../fusion/stage.js';
import { Inspector } from '../inspection/inspector.js';
import { uncalibratedWithout, unresolvedSizeLimits, type JudgedSpec } from '../inspection/judge.js';
import { prepareSpecs, type PreparedSpecs } from '../inspection/setup.js';
import type { ImageOptions } from '../model/image.js';
import { loadModel, variantFile, type LoadedModel } from '../model/load.js';
import { checksDies } from '../model/manifest.js';
import { loadRecipe, type Recipe } from '../specs/recipe.js';
import { forModel, readThresholds, type ModelThresholds } from '../specs/thresholds.js';

/** The stages after capture, opened and checked together: fusion, model, specs, inspector. */
export interface Appliance {
  fusion: FusionStage;
  /** the model opened at start */
  model: LoadedModel;
  prepared: PreparedSpecs;
  inspector: Inspector;
  recipe: Recipe;
  /** the station's thresholds for this model: a recipe changed at run time is judged with them */
  thresholds: ModelThresholds;
  close(): Promise<void>;
}

export class StartError extends Error {
  override name = 'StartError';
}

/**
 * Opens every stage the config names and checks them before the first wafer: a missing calibration,
 * a damaged model, thresholds calibrated for another model or a spec that cannot be read is an error
 * here that says what to do, not a failure on every wafer.
 */
/** How the configured model is run: the same for the model at start and one swapped in later. */
export function modelOptions(config: Config, variant: Config['model']['variant']): Partial<ImageOptions> {
  const m = config.model;
  return { variant: variantFile(variant), threads: m.threads, maxBatch: m.maxBatch, executionProviders: m.executionProviders, spinWait: m.spinWait };
}

/** `visible`: the geometry of the camera the visible frames come from (the station's, or a recorded lot's own). */
export async function openAppliance(config: Config, log: Logger, visible: Affine | null): Promise<Appliance> {
  const grid = { size: config.fusion.gridSize, fieldMm: config.fusion.fieldMm, roiRadiusMm: config.fusion.roiRadiusMm };
  const recipe = await loadRecipe(recipePath(config));
  // the fusion workers start up while the model loads: on two cores, start-up is two things at once
  // the visible frame is handed on whatever the model: one swapped in at run time may crop it, and the
  // wafers already fused when it takes over must have it
  // the dies are compared only for a model that checks die places: set once it has loaded
  const f = new FusionStage({ stationDir: stationDir(config), grid, workers: config.fusion.workers, keepVisible: true, comparesDies: false });
  let model: LoadedModel;
  try {
    model = await loadModel(modelDir(config), grid, modelOptions(config, config.model.variant));
  } catch (e) {
    await f.close();
    throw e;
  }
  f.comparesDies = checksDies(model.manifest);
  try {
    const path = thresholdsFile(config);
    const thresholds = forModel(await readThresholds(path), model.id, path);
    const prepared = await prepareSpecs(recipe, model, thresholds, { visible });
    if (prepared.rejected.length) {
      throw new StartError(`recipe ${recipePath(config)}: ${prepared.rejected.map((r) => `spec ${r.id} ("${r.text}"): ${r.reason}`).join('; ')}`);
    }
    warnUncalibrated(log, prepared.specs, path, thresholds);
    await f.ready();
    const inspector = new Inspector(model, prepared.specs, (t) => f.recycle(t));
    log.info({ model: model.id, recipe: recipe.recipe ?? recipePath(config), specs: prepared.specs.map((s) => `${s.id}:${s.kind}`) }, 'appliance ready');
    return {
      fusion: f,
      model,
      prepared,
      inspector,
      recipe,
      thresholds,
      // after a model change at run time the inspector holds the model in use, not the one opened here
      close: async () => {
        await Promise.all([f.close(), inspector.model.close()]);
      },
    };
  } catch (e) {
    await Promise.all([f.close(), model.close()]);
    throw e;
  }
}

/**
 * What the station's calibration cannot do for these specs, said at start, on a model change and on a
 * recipe change: a false-reject rate its good wafers were too few to promise, wafers missing a camera
 * judged with complete-wafer thresholds, and size limits finer than the size fits resolve.
 */
export function warnUncalibrated(log: Logger, specs: JudgedSpec[], thresholdsPath: string, thresholds: ModelThresholds): void {
  const { expectedFalseRejectRate: expected, targetFalseRejectRate: target, goodWafers } = thresholds;
  if (expected !== undefined && expected > target) {
    log.warn(
      { thresholds: thresholdsPath, goodWafers, targetFalseRejectRate: target, expectedFalseRejectRate: expected },
      'thresholds calibrated on too few good wafers for their target: good wafers may fail more often than it allows; run wafer-inspect calibrate thresholds on more',
    );
  }
  const lacking = uncalibratedWithout(specs);
  if (Object.keys(lacking).length) {
    log.warn(
      { thresholds: thresholdsPath, specs: lacking },
      'no thresholds calibrated for wafers missing a modality: such wafers are judged with complete-wafer thresholds and good ones may fail; run wafer-inspect calibrate thresholds again',
    );
  }
  const unresolved = unresolvedSizeLimits(specs);
  if (Object.keys(unresolved).length) {
    log.warn(
      { thresholds: thresholdsPath, specs: unresolved },
      'size limits finer than the station can measure (within the size fit\'s margin): every defect of these specs found breaks them, however small it reads (wafer-inspect specs explain)',
    );
  }
}

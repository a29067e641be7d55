import type { Affine } from '../common/affine.js';
import { thresholdsFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { prepareSpecs, type PreparedSpecs } from '../inspection/setup.js';
import { loadModel, type LoadedModel, type Variant } from '../model/load.js';
import { modelOptions } from './appliance.js';
import type { Recipe } from '../specs/recipe.js';
import { forModel, readThresholds, type ModelThresholds } from '../specs/thresholds.js';

/** A model ready to take over the line: loaded, checked, its thresholds found and the recipe read by it. */
export interface LineModel {
  model: LoadedModel;
  variant: Variant;
  thresholds: ModelThresholds;
  prepared: PreparedSpecs;
}

export class ModelRefused extends Error {
  override name = 'ModelRefused';
}

/**
 * Everything the line needs from a new model, done before it is used: the manifest and every file's
 * hash, input and output names and shapes, the fused grid it expects, this station's thresholds for
 * it (read again now: they may have been calibrated since start) and the active recipe read by its
 * text side with a threshold for every spec. Any of these missing is a refusal that says which, and
 * the model is closed again.
 */
export async function openForLine(config: Config, dir: string, variant: Variant, recipe: Recipe, visible: Affine | null): Promise<LineModel> {
  const grid = { size: config.fusion.gridSize, fieldMm: config.fusion.fieldMm, roiRadiusMm: config.fusion.roiRadiusMm };
  let model: LoadedModel;
  try {
    model = await loadModel(dir, grid, modelOptions(config, variant));
  } catch (e) {
    throw new ModelRefused((e as Error).message);
  }
  try {
    const path = thresholdsFile(config);
    let thresholds: ModelThresholds;
    try {
      thresholds = forModel(await readThresholds(path), model.id, path);
    } catch (e) {
      throw new ModelRefused((e as Error).message);
    }
    const prepared = await prepareSpecs(recipe, model, thresholds, { visible });
    if (prepared.rejected.length) {
      throw new ModelRefused(`the active recipe as ${model.id} reads it: ${prepared.rejected.map((r) => `spec ${r.id} ("${r.text}"): ${r.reason}`).join('; ')}`);
    }
    return { model, variant, thresholds, prepared };
  } catch (e) {
    await model.close();
    throw e;
  }
}

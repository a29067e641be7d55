import { DEFAULT_MODEL } from '../common/paths.js';
import { TENSOR_CHANNELS } from '../fusion/grid.js';
import type { GridSpec } from '../fusion/grid.js';
import { ImageModelStage, type ImageOptions, type Queries } from './image.js';
import { ModelError, readManifest, sha256, type ModelManifest } from './manifest.js';
import { DEFAULT_SESSION } from './session.js';
import { TextEncoder } from './text.js';

export interface LoadedModel {
  dir: string;
  manifest: ModelManifest;
  /** what a result record names: the model id and the image file's hash (and the verifier's, when it has one) */
  id: string;
  text: TextEncoder;
  image: ImageModelStage;
  close(): Promise<void>;
}

export { DEFAULT_MODEL };

// the float image model is the default: on 2 cores it runs as fast as the INT8 one and scores better
// (models/wafer-mm-9/MODEL_CARD.md); INT8 is chosen with model.variant
export const DEFAULT_IMAGE: ImageOptions = { ...DEFAULT_SESSION, maxBatch: 8, variant: 'imageFloat' };

export type Variant = 'int8' | 'fp32';

export function variantFile(v: Variant): ImageOptions['variant'] {
  return v === 'int8' ? 'image' : 'imageFloat';
}

/**
 * Opens a model folder: manifest, hashes, sessions, and that its input is the fused tensor this
 * appliance produces (same channels, same grid). Any mismatch is an error here, before the first wafer.
 */
export async function loadModel(dir: string, grid: GridSpec, o: Partial<ImageOptions> = {}): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  if (manifest.inputChannels.join(',') !== TENSOR_CHANNELS.join(',')) {
    throw new ModelError(`model ${manifest.id}: expects channels ${manifest.inputChannels.join(', ')}; fusion gives ${TENSOR_CHANNELS.join(', ')}`);
  }
  if (manifest.grid.size !== grid.size || manifest.grid.fieldMm !== grid.fieldMm) {
    throw new ModelError(`model ${manifest.id}: trained on a ${manifest.grid.size}-cell grid over ${manifest.grid.fieldMm} mm; fusion is set to ${grid.size} over ${grid.fieldMm} mm`);
  }
  const options = { ...DEFAULT_IMAGE, ...o };
  const file = manifest.files[options.variant];
  if (!file) throw new ModelError(`model ${manifest.id}: has no ${options.variant} file`);
  // the image model loads on its worker while the text model loads here
  const image = new ImageModelStage(dir, manifest, options);
  const [opened, started] = await Promise.allSettled([TextEncoder.open(dir, manifest, options), image.ready()]);
  if (opened.status === 'rejected' || started.status === 'rejected') {
    await Promise.all([image.close(), opened.status === 'fulfilled' ? opened.value.close() : undefined]);
    if (opened.status === 'rejected') throw opened.reason;
    const e = (started as PromiseRejectedResult).reason as Error;
    throw e instanceof ModelError ? e : new ModelError(e.message);
  }
  const text = opened.value;
  return {
    dir,
    manifest,
    id: modelId(manifest, file.sha256),
    text,
    image,
    close: async () => {
      await Promise.all([image.close(), text.close()]);
    },
  };
}

/**
 * What thresholds and result records name a model by: its id and its image file's hash, and for a model
 * with a verifier a hash of the verifier file and of everything in its manifest that moves a check's
 * confidence or a wafer's highest one (its thresholds are confidences of exactly those): the map
 * weights, how many places per class are cropped and from what score, the crop's size and pitch,
 * where it looks around them, and its rim places (only where it has any, so the names of the models
 * before them stay what their thresholds were calibrated under).
 */
export function modelId(manifest: ModelManifest, imageSha256: string): string {
  const v = manifest.verifier && manifest.files.verifier;
  const j = manifest.verifier;
  const tag = v && j ? `+${sha256(Buffer.from(v.sha256 + JSON.stringify([Object.entries(j.mapWeights).sort(), j.perClass, j.minScore, j.cropPx, j.mmPerPx, Object.entries(j.around).sort(), ...(Object.keys(j.rim).length ? [Object.entries(j.rim).sort()] : [])]))).slice(0, 12)}` : '';
  return `${manifest.id}@${imageSha256.slice(0, 12)}${tag}`;
}

/**
 * Each class's canonical spec as the image model's queries, in the manifest's class order; `verify`:
 * with the verifier's checks for every class it has an output for.
 */
export async function canonicalQueries(model: LoadedModel, verify = false): Promise<Queries> {
  const classes = model.manifest.classes;
  const readings = await model.text.read(classes.map((c) => model.manifest.canonical[c]));
  return model.image.queries(
    readings.map((r) => r.embedding),
    verify ? classes : undefined,
    verify,
  );
}

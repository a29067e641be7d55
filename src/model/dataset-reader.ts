import { open, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Modality } from '../common/modality.js';
import { blankModality, TENSOR_CHANNELS } from '../fusion/grid.js';
import type { DatasetIndex } from '../dataset/export.js';
import type { Queries } from './image.js';
import type { LoadedModel } from './load.js';

/** Dataset chunks (`wafer-inspect dataset` output) matching a prefix pattern with * in its last part, e.g. data/test-*. */
export async function datasetPrefixes(pattern: string): Promise<string[]> {
  const dir = dirname(pattern);
  const re = namePattern(basename(pattern), '\\.json');
  const names = (await readdir(dir)).filter((n) => re.test(n)).sort();
  if (names.length === 0) throw new Error(`no dataset chunks match ${pattern}.json`);
  return names.map((n) => join(dir, n.slice(0, -'.json'.length)));
}

/** A file name pattern with * (any run of characters) as a regular expression, with `suffix` after it. */
export function namePattern(pattern: string, suffix = ''): RegExp {
  return new RegExp('^' + pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*') + suffix + '$');
}

export interface DatasetWafer {
  wafer: string;
  truth: DatasetIndex['wafers'][number]['truth'];
  /** fused tensor in this appliance's channel order, values 0..1 */
  tensor: Float32Array;
}

/**
 * Reads dataset chunks back as fused tensors, a wafer at a time, in TENSOR_CHANNELS order. The
 * modalities in `hide` come back as fusion leaves a missing frame: values and mask zero.
 */
export async function* readDataset(prefixes: string[], hide: readonly Modality[] = []): AsyncGenerator<DatasetWafer> {
  for (const p of prefixes) {
    const index = JSON.parse(await readFile(`${p}.json`, 'utf8')) as DatasetIndex;
    const G2 = index.grid.size * index.grid.size;
    const C = index.channels.length;
    const perm = TENSOR_CHANNELS.map((c) => index.channels.indexOf(c));
    if (perm.some((k) => k < 0)) throw new Error(`${p}.json: channels ${index.channels.join(', ')} lack some of ${TENSOR_CHANNELS.join(', ')}`);
    const fh = await open(`${p}.inputs.u16`, 'r');
    const buf = Buffer.allocUnsafeSlow(C * G2 * 2);
    try {
      for (const [i, w] of index.wafers.entries()) {
        await fh.read(buf, 0, buf.length, i * buf.length);
        const u16 = new Uint16Array(buf.buffer, buf.byteOffset, C * G2);
        const tensor = new Float32Array(TENSOR_CHANNELS.length * G2);
        perm.forEach((src, dst) => {
          for (let k = 0; k < G2; k++) tensor[dst * G2 + k] = u16[src * G2 + k] / 65535;
        });
        for (const m of hide) blankModality(tensor, G2, m);
        yield { wafer: w.wafer, truth: w.truth, tensor };
      }
    } finally {
      await fh.close();
    }
  }
}

/**
 * Every wafer of dataset chunks scored against the queries, a few batches in flight at a time: once
 * per view, a view being the modalities left out as a missing frame is (`[]`: as captured), so a
 * wafer is read once however many views score it.
 */
export async function scoreDataset(
  model: LoadedModel,
  queries: Queries,
  pattern: string,
  each: (w: { wafer: string; truth: DatasetWafer['truth']; scores: Float32Array }, view: number) => void,
  views: ReadonlyArray<readonly Modality[]> = [[]],
): Promise<number> {
  let n = 0;
  const pending: Array<Promise<void>> = [];
  for await (const w of readDataset(await datasetPrefixes(pattern))) {
    n++;
    for (const [v, tensor] of viewsOf(w.tensor, views, w.tensor.length / TENSOR_CHANNELS.length).entries()) {
      pending.push(model.image.score(tensor, queries).then((r) => each({ wafer: w.wafer, truth: w.truth, scores: r.scores }, v)));
    }
    if (pending.length >= model.image.options.maxBatch * 2) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return n;
}

/** A fused tensor as each view sees it: the last view gets the tensor itself, the others copies. */
export function viewsOf(tensor: Float32Array, views: ReadonlyArray<readonly Modality[]>, cells: number): Float32Array[] {
  return views.map((hide, v) => {
    const t = v === views.length - 1 ? tensor : tensor.slice();
    for (const m of hide) blankModality(t, cells, m);
    return t;
  });
}

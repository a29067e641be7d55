import * as ort from 'onnxruntime-node';
import { ModelError, readVerified, type OnnxFile } from './manifest.js';

export interface SessionOptions {
  /** threads one inference may use */
  threads: number;
  /** e.g. ['cpu']; the first that loads is used */
  executionProviders: string[];
  /** let onnxruntime's threads busy-wait for work between operators instead of sleeping */
  spinWait?: boolean;
}

export const DEFAULT_SESSION: SessionOptions = { threads: 2, executionProviders: ['cpu'] };

/**
 * An onnxruntime session for a verified model file, with its input and output names and shapes
 * checked against the manifest (a symbolic dimension in the manifest matches anything).
 */
export async function openSession(dir: string, file: OnnxFile, o: SessionOptions): Promise<ort.InferenceSession> {
  const bytes = await readVerified(dir, file);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: o.executionProviders,
      // spinning threads take the cores from the fusion workers they share them with
      extra: { session: { intra_op: { allow_spinning: o.spinWait ? '1' : '0' } } },
    });
  } catch (e) {
    throw new ModelError(`model file ${file.path}: onnxruntime cannot load it: ${(e as Error).message}`);
  }
  check(file.path, 'input', session.inputMetadata, file.inputs);
  check(file.path, 'output', session.outputMetadata, file.outputs);
  return session;
}

function check(path: string, what: string, got: readonly ort.InferenceSession.ValueMetadata[], want: Record<string, Array<number | string>>): void {
  const names = got.map((g) => g.name).sort();
  const expected = Object.keys(want).sort();
  if (names.join(',') !== expected.join(',')) throw new ModelError(`model file ${path}: ${what}s are ${names.join(', ')}, the manifest says ${expected.join(', ')}`);
  for (const g of got) {
    if (!g.isTensor) continue;
    const w = want[g.name];
    const ok = g.shape.length === w.length && g.shape.every((d, i) => typeof w[i] === 'string' || typeof d === 'string' || d === w[i]);
    if (!ok) throw new ModelError(`model file ${path}: ${what} ${g.name} has shape [${g.shape.join(', ')}], the manifest says [${w.join(', ')}]`);
  }
}

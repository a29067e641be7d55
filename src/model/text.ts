import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import type { ModelManifest } from './manifest.js';
import { readVerified } from './manifest.js';
import { openSession, type SessionOptions } from './session.js';
import { Tokenizer, type TokenizerSpec } from './tokenizer.js';

export interface SpecReading {
  text: string;
  /** unit vector the image model is queried with */
  embedding: Float32Array;
  /** probability of each kind (the model's classes, then 'none') */
  kinds: Record<string, number>;
}

/** The text side: spec text -> tokens -> embedding. Runs once per recipe, never per wafer. */
export class TextEncoder {
  private constructor(
    readonly manifest: ModelManifest,
    readonly tokenizer: Tokenizer,
    private readonly session: ort.InferenceSession,
  ) {}

  static async open(dir: string, manifest: ModelManifest, o: SessionOptions): Promise<TextEncoder> {
    const spec = JSON.parse((await readVerified(dir, manifest.files.tokenizer)).toString('utf8')) as TokenizerSpec;
    return new TextEncoder(manifest, new Tokenizer(spec), await openSession(dir, manifest.files.text, { ...o, threads: 1 }));
  }

  async read(texts: string[]): Promise<SpecReading[]> {
    if (texts.length === 0) return [];
    const L = this.tokenizer.maxLength;
    const ids = new BigInt64Array(texts.length * L);
    texts.forEach((t, i) => this.tokenizer.padded(t).ids.forEach((id, j) => (ids[i * L + j] = BigInt(id))));
    const out = await this.session.run({ ids: new ort.Tensor('int64', ids, [texts.length, L]) });
    const emb = out.embedding.data as Float32Array;
    const kinds = out.kinds.data as Float32Array;
    const D = this.manifest.embedding;
    const K = this.manifest.kinds.length;
    return texts.map((text, i) => ({
      text,
      embedding: emb.slice(i * D, (i + 1) * D),
      kinds: Object.fromEntries(this.manifest.kinds.map((k, j) => [k, kinds[i * K + j]])),
    }));
  }

  close(): Promise<void> {
    return this.session.release();
  }
}

export function modelDir(root: string, name: string): string {
  return join(root, name);
}

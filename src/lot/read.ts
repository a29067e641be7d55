import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { formatIssues } from '../common/issues.js';
import { lotMetaSchema, manifestLineSchema, type LotMeta, type ManifestLine } from './schema.js';

export class LotError extends Error {
  override name = 'LotError';
}

/** lot.json, or {} when the lot has none (every key is optional). */
export async function readLotMeta(dir: string): Promise<LotMeta> {
  let text: string;
  try {
    text = await readFile(join(dir, 'lot.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new LotError(`${dir}/lot.json: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LotError(`${dir}/lot.json: not JSON: ${(e as Error).message}`);
  }
  const r = lotMetaSchema.safeParse(json, { reportInput: true });
  if (!r.success) throw new LotError(`${dir}/lot.json: ${formatIssues(r.error.issues).join('; ')}`);
  return r.data;
}

export type ManifestItem = { line: number; entry: ManifestLine } | { line: number; error: string; wafer?: string };

/**
 * The manifest's lines in order. A line that is not JSON or breaks the format yields an error item
 * (with the wafer id when it could be read) and reading goes on: one bad line costs one wafer.
 */
export async function* readManifest(dir: string): AsyncGenerator<ManifestItem> {
  const path = join(dir, 'manifest.jsonl');
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (e) {
    throw new LotError(`${path}: ${(e as Error).message}`);
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const text = raw.trim();
    if (text === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      yield { line: n, error: `manifest.jsonl line ${n}: not JSON: ${(e as Error).message}` };
      continue;
    }
    const r = manifestLineSchema.safeParse(json, { reportInput: true });
    if (!r.success) {
      const wafer = typeof (json as { wafer?: unknown })?.wafer === 'string' ? (json as { wafer: string }).wafer : undefined;
      yield { line: n, wafer, error: `manifest.jsonl line ${n}: ${formatIssues(r.error.issues).join('; ')}` };
      continue;
    }
    yield { line: n, entry: r.data };
  }
}

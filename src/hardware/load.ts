import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { formatIssues } from '../common/issues.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { profileSchema, type HardwareProfile } from './profile-schema.js';

export class HardwareProfileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** The profiles shipped with the package. */
export const HARDWARE_DIR = join(PACKAGE_ROOT, 'hardware');

export function parseProfile(text: string, file: string): HardwareProfile {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) throw new HardwareProfileError(file, doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`));
  const r = profileSchema.safeParse(doc.toJS() ?? {}, { reportInput: true });
  if (!r.success) throw new HardwareProfileError(file, formatIssues(r.error.issues));
  return r.data;
}

export async function loadProfile(file: string): Promise<HardwareProfile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new HardwareProfileError(file, [(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message]);
  }
  return parseProfile(text, file);
}

/** Every `*.yaml` profile in a folder, by id; two files with one id are an error, since links name arms by id. */
export async function loadProfiles(dir = HARDWARE_DIR): Promise<Map<string, HardwareProfile>> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out = new Map<string, HardwareProfile>();
  const seen = new Map<string, string>();
  for (const f of files) {
    const file = join(dir, f);
    const p = await loadProfile(file);
    const other = seen.get(p.id);
    if (other) throw new HardwareProfileError(file, [`id: "${p.id}" is already used by ${other}`]);
    seen.set(p.id, file);
    out.set(p.id, p);
  }
  return out;
}

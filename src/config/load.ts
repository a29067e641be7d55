import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { formatIssues } from '../common/issues.js';
import { DEFAULT_MODEL, PACKAGE_ROOT } from '../common/paths.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${NAME} and ${NAME:-default} in every string; an unset variable without a default is a problem at that key. */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_, name: string, dflt: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (dflt !== undefined) return dflt;
      problems.push(`${path || '(top level)'}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}[${i}]`, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, path ? `${path}.${k}` : k, problems)]));
  }
  return value;
}

/** Line of a key path in the YAML source, so a problem can point at it. */
function lineOf(doc: ReturnType<typeof parseDocument>, text: string, path: string): number | undefined {
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '');
  let node: Node | null | undefined = doc.contents as Node;
  let best: number | undefined;
  for (const k of keys) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === k);
      if (!pair) break;
      if (isScalar(pair.key) && pair.key.range) best = pair.key.range[0];
      node = pair.value as Node;
    } else if (isSeq(node)) {
      node = node.items[Number(k)] as Node;
      if (node?.range) best = node.range[0];
    } else break;
  }
  return best === undefined ? undefined : text.slice(0, best).split('\n').length;
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`));
  const problems: string[] = [];
  const raw = expandEnv(doc.toJS() ?? {}, env, '', problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  const r = configSchema.safeParse(raw, { reportInput: true });
  if (!r.success) {
    const lines = formatIssues(r.error.issues).map((p) => {
      const line = lineOf(doc, text, p.split(':')[0]);
      return line ? `line ${line}: ${p}` : p;
    });
    throw new ConfigError(file, lines);
  }
  return r.data;
}

/** Reads and validates a config file; with no file, the built-in defaults (the demo line). */
export async function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  if (!file) return configSchema.parse({});
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message]);
  }
  return resolvePaths(parseConfig(text, file, env), dirname(resolve(file)));
}

/** Relative paths in a config file mean relative to the file's own folder, wherever the service is started from. */
function resolvePaths(c: Config, base: string): Config {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  if (c.calibrationDir) c.calibrationDir = abs(c.calibrationDir);
  if (c.model.dir) c.model.dir = abs(c.model.dir);
  if (c.recipe) c.recipe = abs(c.recipe);
  if (c.thresholds) c.thresholds = abs(c.thresholds);
  if (c.capture.replay) c.capture.replay.lot = abs(c.capture.replay.lot);
  if (c.capture.watch) c.capture.watch.dir = abs(c.capture.watch.dir);
  const t = c.telemetry;
  if (t.outbox.path) t.outbox.path = abs(t.outbox.path);
  if (t.commands.recipeDir) t.commands.recipeDir = abs(t.commands.recipeDir);
  if (t.commands.modelDir) t.commands.modelDir = abs(t.commands.modelDir);
  if (t.tls) for (const k of ['ca', 'cert', 'key'] as const) if (t.tls[k]) t.tls[k] = abs(t.tls[k]);
  // An arm is a profile id (a bare name) or a file (anything with a slash or a .yaml ending).
  c.control.arms = c.control.arms.map((a) => (isProfileFile(a) ? abs(a) : a));
  if (c.control.stateDir) c.control.stateDir = abs(c.control.stateDir);
  if (c.service.stateDir) c.service.stateDir = abs(c.service.stateDir);
  return c;
}

export function isProfileFile(arm: string): boolean {
  return arm.includes('/') || /\.ya?ml$/.test(arm);
}

export function calibrationRoot(config: Config): string {
  const dir = config.calibrationDir;
  return dir ? (isAbsolute(dir) ? dir : resolve(dir)) : join(PACKAGE_ROOT, 'calibration');
}

export function stationDir(config: Config): string {
  return join(calibrationRoot(config), config.station);
}

export function modelDir(config: Config): string {
  return config.model.dir ?? DEFAULT_MODEL;
}

export function recipePath(config: Config): string {
  return config.recipe ?? join(PACKAGE_ROOT, 'deploy/recipe.example.yaml');
}

export function thresholdsFile(config: Config): string {
  return config.thresholds ?? join(stationDir(config), 'thresholds.yaml');
}

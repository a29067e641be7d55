import { WRITABLE } from './mapping.js';

/**
 * A DCMD metric as the plain `set/<command>` payload it stands for. The payload then goes through
 * the same validation as one from the plain topic (schema, hardware profile limits, the service),
 * so a value is never trusted for coming over Sparkplug. Null: the metric cannot be written.
 */
export function dcmdCommand(target: { kind: 'inspection' } | { kind: 'arm'; arm: string }, name: string, value: unknown): { command: string; payload: Record<string, unknown> } | null {
  if (target.kind === 'inspection') {
    if (name === WRITABLE.run) return { command: 'run', payload: { action: value === 'paused' ? 'pause' : value === 'running' ? 'resume' : value } };
    if (name === WRITABLE.recipeYaml) return { command: 'recipe', payload: { yaml: value } };
    if (name === WRITABLE.recipePath) return { command: 'recipe', payload: { path: value } };
    return null;
  }
  const arm = target.arm;
  if (name === WRITABLE.armMode) return { command: 'mode', payload: { arm, mode: value } };
  const setpoint = /^Parameters\/([^/]+)\/Setpoint$/.exec(name);
  if (setpoint) return { command: 'setpoint', payload: { arm, parameter: setpoint[1], value } };
  const link = /^Links\/([^/]+)\/Mode$/.exec(name);
  if (link) return { command: 'mode', payload: { link: link[1], mode: value } };
  return null;
}

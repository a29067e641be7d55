import type { z } from 'zod';

/** One line per schema problem: the key path, what was expected and what was found. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${pathOf(i.path)}: ${describe(i)}`);
}

function pathOf(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, k) => (typeof p === 'number' ? `[${p}]` : k === 0 ? String(p) : `.${String(p)}`)).join('');
}

export function found(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  return `${typeof v} ${String(v)}`;
}

function describe(i: z.core.$ZodIssue): string {
  const input = (i as { input?: unknown }).input;
  switch (i.code) {
    case 'invalid_type':
      return input === undefined ? `missing, expected ${i.expected}` : `expected ${i.expected}, found ${found(input)}`;
    case 'invalid_value':
      return `expected one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}, found ${found(input)}`;
    case 'too_small':
      return `expected ${i.origin === 'array' ? 'at least ' + String(i.minimum) + ' items' : (i.inclusive ? '>= ' : '> ') + String(i.minimum)}, found ${found(input)}`;
    case 'too_big':
      return `expected ${i.origin === 'array' ? 'at most ' + String(i.maximum) + ' items' : (i.inclusive ? '<= ' : '< ') + String(i.maximum)}, found ${found(input)}`;
    case 'unrecognized_keys':
      return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    default:
      return input === undefined ? i.message : `${i.message}, found ${found(input)}`;
  }
}

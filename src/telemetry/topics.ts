/**
 * Every topic the appliance uses, under `<prefix>/<station>`. Built in one place so the docs, the
 * publisher and the tests cannot drift apart.
 */

export const STATE_NAMES = ['run', 'recipe', 'control', 'model'] as const;
export type StateName = (typeof STATE_NAMES)[number];

/** Record streams kept in the outbox and delivered in order with QoS 1. */
export const CHANNELS = ['results', 'alarms', 'moves', 'events'] as const;
export type Channel = (typeof CHANNELS)[number];

export const COMMAND_NAMES = ['run', 'recipe', 'mode', 'setpoint', 'model'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface Topics {
  base: string;
  available: string;
  stats: string;
  channel(c: Channel): string;
  state(s: StateName): string;
  /** `set/<command>` */
  command(c: string): string;
  /** what the appliance subscribes to for commands */
  commandFilter: string;
  reply(c: string): string;
}

export function topicLevel(s: string, what: string): string {
  if (s.length === 0 || /[+#/\s]/.test(s)) throw new Error(`${what} "${s}" cannot be a topic level (no /, +, # or spaces)`);
  return s;
}

export function topicsFor(prefix: string, station: string): Topics {
  const base = `${prefix}/${topicLevel(station, 'station id')}`;
  return {
    base,
    available: `${base}/available`,
    stats: `${base}/stats`,
    channel: (c) => `${base}/${c}`,
    state: (s) => `${base}/state/${s}`,
    command: (c) => `${base}/set/${c}`,
    commandFilter: `${base}/set/+`,
    reply: (c) => `${base}/reply/${c}`,
  };
}

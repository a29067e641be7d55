import type { z } from 'zod';
import { formatIssues } from '../../common/issues.js';
import type { StateName } from '../topics.js';
import { COMMAND_NAMES } from '../topics.js';
import type { Command, CommandContext } from './command.js';
import { CommandRejected } from './handler.js';
import { modeCommand } from './mode.js';
import { modelCommand } from './model.js';
import { recipeCommand } from './recipe.js';
import { runCommand } from './run.js';
import { setpointCommand } from './setpoint.js';

export type { CommandContext } from './command.js';
export { CommandRejected, type CommandHandler } from './handler.js';

type AnyCommand = Command<z.ZodType, StateName>;
const COMMANDS: Record<string, AnyCommand> = {
  run: runCommand as unknown as AnyCommand,
  recipe: recipeCommand as unknown as AnyCommand,
  mode: modeCommand as unknown as AnyCommand,
  setpoint: setpointCommand as unknown as AnyCommand,
  model: modelCommand as unknown as AnyCommand,
};

/** The answer on `reply/<command>`: `ok` with the state topic it changed, or the reason it was refused. */
export interface CommandReply {
  command: string;
  id?: string | number;
  ok: boolean;
  error?: string;
  /** the state that changed (published on state/<name>) */
  state?: StateName;
  at: string;
}

export interface CommandOutcome {
  reply: CommandReply;
  /** present only when the command was applied */
  state?: { name: StateName; value: unknown };
}

/**
 * Validates a command payload against its schema and the hardware profiles, then hands it to the
 * service. Anything refused, at any step, leaves everything as it was.
 */
export async function runCommandPayload(name: string, payload: Buffer | string, ctx: CommandContext, o: { retained?: boolean; now?: () => Date } = {}): Promise<CommandOutcome> {
  const at = (o.now ?? (() => new Date()))().toISOString();
  let id: string | number | undefined;
  const refuse = (error: string): CommandOutcome => ({ reply: { command: name, ...(id !== undefined ? { id } : {}), ok: false, error, at } });

  const cmd = COMMANDS[name];
  if (!cmd) return refuse(`unknown command "${name}"; expected one of ${COMMAND_NAMES.join(', ')}`);
  // A retained command would be applied again by every reconnect, long after whoever sent it.
  if (o.retained) return refuse('retained commands are not taken; publish with retain false');

  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch (e) {
    return refuse(`payload is not JSON: ${(e as Error).message}`);
  }
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
    const maybe = (json as { id?: unknown }).id;
    if (typeof maybe === 'string' || typeof maybe === 'number') id = maybe;
  }
  const parsed = cmd.schema.safeParse(json, { reportInput: true });
  if (!parsed.success) return refuse(formatIssues(parsed.error.issues).join('; '));
  const problem = cmd.check?.(parsed.data, ctx);
  if (problem) return refuse(problem);

  try {
    const value = await cmd.apply(parsed.data, ctx);
    return { reply: { command: name, ...(id !== undefined ? { id } : {}), ok: true, state: cmd.state, at }, state: { name: cmd.state, value } };
  } catch (e) {
    return refuse(e instanceof CommandRejected ? e.message : `not applied: ${(e as Error).message}`);
  }
}

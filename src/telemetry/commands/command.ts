import type { z } from 'zod';
import type { HardwareProfile } from '../../hardware/profile-schema.js';
import type { StateValues } from '../state.js';
import type { CommandName, StateName } from '../topics.js';
import type { CommandHandler } from './handler.js';

/** What a command may be checked against before the service sees it. */
export interface CommandContext {
  handler: CommandHandler;
  /** hardware profiles by arm id: the only arms and parameters a command may touch */
  profiles: ReadonlyMap<string, HardwareProfile>;
  /** control links by id */
  links: ReadonlyMap<string, { arm: string; parameter: string }>;
  recipeDir?: string;
  maxRecipeBytes: number;
  /** model folders named by a command must lie in here */
  modelDir?: string;
}

/** One command: its payload schema (validates and documents it), checks that need the context, and how it is applied. */
export interface Command<S extends z.ZodType, N extends StateName> {
  name: CommandName;
  schema: S;
  /** the state topic an applied command is echoed on */
  state: N;
  /** a reason to refuse, or null */
  check?(cmd: z.infer<S>, ctx: CommandContext): string | null;
  apply(cmd: z.infer<S>, ctx: CommandContext): Promise<StateValues[N]> | StateValues[N];
}

export function defineCommand<S extends z.ZodType, N extends StateName>(c: Command<S, N>): Command<S, N> {
  return c;
}

import type { ControlState, ModelState, RecipeState, RunState } from '../state.js';

/**
 * What the service does with a command that passed validation. Each method applies the change and
 * returns the new state, which is then published on the state topic; throwing CommandRejected (or
 * anything) means nothing changed, and the reason goes back on the reply topic.
 */
export interface CommandHandler {
  pause(): Promise<RunState> | RunState;
  resume(): Promise<RunState> | RunState;
  /** The service parses and reads the recipe; an unreadable one is rejected with the reasons. */
  changeRecipe(source: { yaml: string } | { path: string }): Promise<RecipeState> | RecipeState;
  setMode(target: { arm: string } | { link: string }, mode: 'auto' | 'manual'): Promise<ControlState> | ControlState;
  /** Limits and writability are checked before this is called; the handler may still refuse (e.g. a link in auto mode). */
  setSetpoint(s: { arm: string; parameter: string; value: number }): Promise<ControlState> | ControlState;
  /** The service loads and checks the model before any wafer goes to it; one that fails a check is refused with the reason. */
  useModel(source: { path: string; variant?: 'int8' | 'fp32' }): Promise<ModelState> | ModelState;
}

export class CommandRejected extends Error {}

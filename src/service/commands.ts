import type { Affine } from '../common/affine.js';
import type { Logger } from '../common/log.js';
import { thresholdsFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Inspector } from '../inspection/inspector.js';
import type { JudgedSpec } from '../inspection/judge.js';
import { prepareSpecs, type PreparedSpecs } from '../inspection/setup.js';
import { variantFile, type LoadedModel, type Variant } from '../model/load.js';
import { loadRecipe, parseRecipe, RecipeError, type Recipe } from '../specs/recipe.js';
import type { ModelThresholds } from '../specs/thresholds.js';
import { CommandRejected, type CommandHandler } from '../telemetry/commands/index.js';
import type { ControlState, ModelState, RecipeState, RunState } from '../telemetry/state.js';
import { warnUncalibrated } from './appliance.js';
import type { ControlRig } from './arms.js';
import type { CaptureGate } from './gate.js';
import { ModelRefused, openForLine, type LineModel } from './model-swap.js';

/** What a model change did, for the service to announce (event, recipe state, alarm). */
export type ModelChange =
  | { ok: true; from: string; to: LineModel; path: string; recipe: RecipeState }
  | { ok: false; current: string; path: string; variant: Variant; reason: string };

/** The retained `state/recipe` payload: how every spec of the active recipe was read. */
export function recipeState(recipe: Recipe, source: string, prepared: PreparedSpecs): RecipeState {
  const size = (s: JudgedSpec) => (s.size ? `${s.size.inclusive ? '>=' : '>'} ${s.size.mm} mm` : undefined);
  const count = (s: JudgedSpec) => (s.count ? `${s.count.inclusive ? '>=' : '>'} ${s.count.count}` : undefined);
  const zone = (s: JudgedSpec) => (s.zone ? `radius ${s.zone.minRadiusMm}-${s.zone.maxRadiusMm} mm` : undefined);
  return {
    name: recipe.recipe ?? source,
    source,
    loadedAt: new Date().toISOString(),
    specs: prepared.specs.map((s) => {
      const [sz, ct, zn] = [size(s), count(s), zone(s)];
      return {
        id: s.id,
        text: s.text,
        kind: s.kind,
        confidence: Math.round(s.confidence * 1000) / 1000,
        ...(sz ? { size: sz } : {}),
        ...(ct ? { count: ct } : {}),
        ...(zn ? { zone: zn } : {}),
        threshold: s.threshold,
        ...(Object.keys(s.thresholdWithout ?? {}).length ? { thresholdWithout: s.thresholdWithout } : {}),
        modalities: s.modalities,
      };
    }),
  };
}

export function modelState(model: LoadedModel, variant: Config['model']['variant']): ModelState {
  const file = model.manifest.files[variantFile(variant)];
  return { id: model.id, variant, ...(file ? { sha256: file.sha256 } : {}), classes: model.manifest.classes };
}

/**
 * What the service does with commands from the broker. A recipe is read and checked completely
 * before it replaces the active one: one spec the model cannot read or has no threshold for, and
 * the line keeps judging with the recipe it has. A model likewise: loaded and checked in full, with
 * its thresholds and the recipe read by it, before any wafer goes to it.
 */
export class ServiceCommands implements CommandHandler {
  run: RunState = { state: 'running', since: new Date().toISOString() };
  recipe: RecipeState;
  model: ModelState;
  private activeRecipe: Recipe;
  private lineModel: { model: LoadedModel; variant: Variant; thresholds: ModelThresholds };
  /** old models closing once their last wafers are back */
  private closing = new Set<Promise<void>>();

  constructor(
    private readonly o: {
      config: Config;
      /** where the visible frames come from: what a recipe's or model's verifier is checked against */
      visible: Affine | null;
      gate: CaptureGate;
      inspector: Inspector;
      model: LoadedModel;
      thresholds: ModelThresholds;
      rig: ControlRig | null;
      log: Logger;
      recipe: Recipe;
      initialRecipe: RecipeState;
      /** told about every run state change and new specs (metrics, control window) */
      onRun?: (r: RunState) => void;
      onSpecs?: (specs: readonly string[]) => void;
      /** told about every model change, applied or refused */
      onModel?: (c: ModelChange) => void;
    },
  ) {
    this.recipe = o.initialRecipe;
    this.activeRecipe = o.recipe;
    this.lineModel = { model: o.model, variant: o.config.model.variant, thresholds: o.thresholds };
    this.model = modelState(o.model, o.config.model.variant);
  }

  pause(): RunState {
    if (this.run.state !== 'paused') {
      this.o.gate.pause();
      this.run = { state: 'paused', since: new Date().toISOString(), reason: 'operator' };
      this.o.log.info('capture paused by command');
      this.o.onRun?.(this.run);
    }
    return this.run;
  }

  resume(): RunState {
    if (this.run.state !== 'running') {
      this.o.gate.resume();
      this.run = { state: 'running', since: new Date().toISOString() };
      this.o.log.info('capture resumed by command');
      this.o.onRun?.(this.run);
    }
    return this.run;
  }

  async changeRecipe(source: { yaml: string } | { path: string }): Promise<RecipeState> {
    const name = 'yaml' in source ? 'mqtt' : source.path;
    let recipe: Recipe;
    try {
      recipe = 'yaml' in source ? parseRecipe(source.yaml, name) : await loadRecipe(source.path);
    } catch (e) {
      if (e instanceof RecipeError) throw new CommandRejected(`recipe: ${e.problems.join('; ')}`);
      throw e;
    }
    const prepared = await prepareSpecs(recipe, this.lineModel.model, this.lineModel.thresholds, { visible: this.o.visible });
    if (prepared.rejected.length > 0) throw new CommandRejected(`recipe kept as it was: ${prepared.rejected.map((r) => `spec ${r.id} ("${r.text}"): ${r.reason}`).join('; ')}`);
    if (prepared.specs.length === 0) throw new CommandRejected('recipe kept as it was: the new one has no specs');
    this.o.inspector.setSpecs(prepared.specs);
    this.o.onSpecs?.(prepared.specs.map((s) => s.id));
    this.activeRecipe = recipe;
    this.recipe = recipeState(recipe, name, prepared);
    this.o.log.info({ recipe: this.recipe.name, specs: prepared.specs.map((s) => `${s.id}:${s.kind}`) }, 'recipe changed by command');
    warnUncalibrated(this.o.log, prepared.specs, thresholdsFile(this.o.config), this.lineModel.thresholds);
    return this.recipe;
  }

  /**
   * Loads and checks the model in `path`; only then do new wafers go to it. Wafers already with the
   * old model finish there, and the old model is closed after the last of them.
   */
  async useModel(source: { path: string; variant?: Variant }): Promise<ModelState> {
    const variant = source.variant ?? this.lineModel.variant;
    const from = this.lineModel.model.id;
    let next: LineModel;
    try {
      next = await openForLine(this.o.config, source.path, variant, this.activeRecipe, this.o.visible);
    } catch (e) {
      if (!(e instanceof ModelRefused)) throw e;
      this.o.log.warn({ path: source.path, variant, reason: e.message, model: from }, 'model refused; the line keeps its model');
      this.o.onModel?.({ ok: false, current: from, path: source.path, variant, reason: e.message });
      throw new CommandRejected(`model kept as it was (${from}): ${e.message}`);
    }
    const closing = this.o.inspector
      .useModel(next.model, next.prepared.specs)
      .then((old) => old.close())
      .catch((e: Error) => this.o.log.error({ err: e }, 'closing the previous model failed'))
      .finally(() => this.closing.delete(closing));
    this.closing.add(closing);
    this.lineModel = next;
    this.model = modelState(next.model, variant);
    this.recipe = recipeState(this.activeRecipe, this.recipe.source, next.prepared);
    this.o.log.info({ from, to: next.model.id, variant, path: source.path }, 'model changed by command');
    warnUncalibrated(this.o.log, next.prepared.specs, thresholdsFile(this.o.config), next.thresholds);
    this.o.onModel?.({ ok: true, from, to: next, path: source.path, recipe: this.recipe });
    return this.model;
  }

  /** Resolves once every replaced model has been closed. */
  async settled(): Promise<void> {
    while (this.closing.size > 0) await Promise.all(this.closing);
  }

  setMode(target: { arm: string } | { link: string }, mode: 'auto' | 'manual'): ControlState {
    if (!this.o.rig) throw new CommandRejected('no control links or arms are configured');
    return this.o.rig.setMode(target, mode);
  }

  setSetpoint(s: { arm: string; parameter: string; value: number }): Promise<ControlState> {
    if (!this.o.rig) throw new CommandRejected('no arms are configured');
    return this.o.rig.setSetpoint(s);
  }
}

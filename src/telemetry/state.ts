/**
 * Payloads of the retained state topics. The service owns the values; telemetry only publishes the
 * latest of each, again after every reconnect, so a dashboard that subscribes late sees the present.
 */

export interface RunState {
  state: 'running' | 'paused';
  since: string;
  reason?: string;
}

/** How the appliance read each spec of the active recipe (what `specs explain` prints). */
export interface RecipeState {
  name: string;
  source: string;
  loadedAt: string;
  specs: Array<{
    id: string;
    text: string;
    kind: string;
    confidence: number;
    size?: string;
    count?: string;
    zone?: string;
    threshold?: number;
    /** the threshold on a wafer missing that modality, where calibrated */
    thresholdWithout?: Record<string, number>;
    modalities: string[];
  }>;
}

export interface ControlState {
  arms: Record<
    string,
    {
      /** 'mixed' when some of the arm's links are manual and some automatic */
      mode: 'auto' | 'manual' | 'mixed';
      parameters: Record<string, { value: number | null; unit: string; link?: string; mode: 'auto' | 'manual' }>;
    }
  >;
  links: Record<string, { arm: string; parameter: string; mode: 'auto' | 'manual'; frozen: string | null }>;
}

export interface ModelState {
  id: string;
  variant: string;
  sha256?: string;
  classes?: string[];
}

export interface StateValues {
  run: RunState;
  recipe: RecipeState;
  control: ControlState;
  model: ModelState;
}

import type { Rng } from './rng.js';

/**
 * How one wafer looks without defects: product (die grid), process (film tint, thickness),
 * and conditions at capture (lighting, temperature, noise). Every range here is a parameter of
 * the synthetic line; a model trained on it generalises only as far as these ranges reach.
 */
export interface WaferLook {
  // visible
  /** film colour phase (0..1) on a thin-film palette, and its change from centre to rim */
  tintPhase: number;
  tintRadial: number;
  tintAmplitude: number;
  /** lighting: overall gain, linear gradient per mm along x and y, ring-light falloff at the rim */
  lightGain: number;
  lightGx: number;
  lightGy: number;
  lightRing: number;
  /** die grid in wafer mm: pitch, origin, street width and brightness factor */
  diePitchX: number;
  diePitchY: number;
  dieOriginX: number;
  dieOriginY: number;
  streetWidth: number;
  streetFactor: number;
  /** two functional blocks per die, as fractions of the pitch, with their brightness factors */
  blockA: [number, number, number, number, number];
  blockB: [number, number, number, number, number];
  /** ring without dies inside the rim (mm) */
  edgeExclusion: number;
  /** chuck (background) grey level and pixel noise sigma (8-bit DN) */
  chuckLevel: number;
  visibleNoise: number;
  // infrared, scene counts
  irWafer: number;
  irGx: number;
  irGy: number;
  irRadial: number;
  irDie: number;
  irChuck: number;
  irNoise: number;
  // X-ray
  /** transmission through the bare stack, its gradient per mm, street metal and TSV absorption */
  xrWafer: number;
  xrGx: number;
  xrGy: number;
  xrStreet: number;
  xrTsvPitch: number;
  xrTsvRadius: number;
  xrTsv: number;
  xrNoise: number;
  /** optics: blur of the visible camera (mm, box radius); absent or 0 for a sharp lens */
  visibleBlurMm?: number;
}

/**
 * Named sets of ranges. `default` is what the shipped model was trained on; `plant` is another
 * plant's wafers and station: another film (a narrower, more saturated tint band), a dimmer and
 * less even light, a softer lens, noisier sensors, and particles of another make (see defects.ts).
 */
export const LOOKS = ['default', 'plant'] as const;
export type LookName = (typeof LOOKS)[number];

export function sampleLook(rng: Rng, name: LookName = 'default'): WaferLook {
  const look = sampleDefaultLook(rng);
  return name === 'plant' ? plantLook(rng, look) : look;
}

/** The plant's ranges, drawn after the default ones so a default look stays exactly what it was. */
function plantLook(rng: Rng, base: WaferLook): WaferLook {
  return {
    ...base,
    tintPhase: rng.range(0.55, 0.8),
    tintRadial: rng.range(-0.2, 0.2),
    tintAmplitude: rng.range(75, 100),
    lightGain: rng.range(0.7, 0.88),
    lightGx: rng.range(-0.0022, 0.0022),
    lightGy: rng.range(-0.0022, 0.0022),
    lightRing: rng.range(-0.3, -0.12),
    visibleNoise: rng.range(4, 7),
    irWafer: rng.range(9400, 10400),
    irNoise: rng.range(25, 45),
    xrWafer: rng.range(0.24, 0.34),
    xrNoise: rng.range(1, 1.6),
    visibleBlurMm: rng.range(0.25, 0.5),
  };
}

function sampleDefaultLook(rng: Rng): WaferLook {
  const px = rng.range(6, 22);
  const py = rng.next() < 0.4 ? px : rng.range(6, 22);
  const block = (): [number, number, number, number, number] => {
    const x0 = rng.range(0.08, 0.5);
    const y0 = rng.range(0.08, 0.5);
    return [x0, y0, x0 + rng.range(0.15, 0.42), y0 + rng.range(0.15, 0.42), rng.range(0.78, 1.15)];
  };
  return {
    tintPhase: rng.next(),
    tintRadial: rng.range(-0.08, 0.08),
    tintAmplitude: rng.range(35, 70),
    lightGain: rng.range(0.85, 1.12),
    lightGx: rng.range(-0.0011, 0.0011),
    lightGy: rng.range(-0.0011, 0.0011),
    lightRing: rng.range(-0.16, 0.04),
    diePitchX: px,
    diePitchY: py,
    dieOriginX: rng.range(0, px),
    dieOriginY: rng.range(0, py),
    streetWidth: rng.range(0.08, 0.25),
    streetFactor: rng.range(0.75, 1.25),
    blockA: block(),
    blockB: block(),
    edgeExclusion: rng.range(2, 5),
    chuckLevel: rng.range(25, 60),
    visibleNoise: rng.range(1.2, 4),
    irWafer: rng.range(8000, 9800),
    irGx: rng.range(-1.5, 1.5),
    irGy: rng.range(-1.5, 1.5),
    irRadial: rng.range(-300, 300),
    irDie: rng.range(10, 60),
    irChuck: rng.range(6500, 7500),
    irNoise: rng.range(10, 25),
    xrWafer: rng.range(0.3, 0.48),
    xrGx: rng.range(-0.0004, 0.0004),
    xrGy: rng.range(-0.0004, 0.0004),
    xrStreet: rng.range(0.9, 0.97),
    xrTsvPitch: rng.range(1.2, 3),
    xrTsvRadius: rng.range(0.12, 0.3),
    xrTsv: rng.range(0.6, 0.85),
    xrNoise: rng.range(0.5, 1),
  };
}

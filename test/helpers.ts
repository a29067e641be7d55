import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { SimStationSpec } from '../src/sim/station.js';

/** A temporary folder removed when the test ends. */
export function tempDir(t: Test, prefix = 'wi-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A station with small cameras, for tests that need many wafers quickly; poses differ per camera as on the reference station. */
export const SMALL_STATION: SimStationSpec = {
  id: 'small',
  seed: 77,
  waferDiameterMm: 300,
  cameras: {
    visible: { width: 512, height: 512, pose: { pitchMm: 0.632, rotationDeg: 0.6, centreMm: [1.8, -1.2] } },
    infrared: { width: 320, height: 256, pose: { pitchMm: 1.24, rotationDeg: -1.4, centreMm: [-2.5, 1.5] } },
    xray: { width: 384, height: 384, pose: { pitchMm: 0.832, rotationDeg: 2.1, centreMm: [0.8, 2.2] } },
  },
};

export const REPO_ROOT = new URL('..', import.meta.url).pathname;
export const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

/**
 * The shipped model without a verifier: the one a station like SMALL_STATION runs, whose 0.632 mm/px
 * visible camera is too coarse for the default model's crops.
 */
export const MAP_MODEL = join(REPO_ROOT, 'models/wafer-mm-9');

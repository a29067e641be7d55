import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json is): calibration/, models/ and hardware/ ship there. */
export const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
})();

/** The model the appliance ships with and runs unless the config names another folder. */
export const DEFAULT_MODEL = join(PACKAGE_ROOT, 'models/wafer-mm-14');

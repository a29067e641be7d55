import type { CaptureOptions } from '../capture/index.js';
import type { Config } from '../config/schema.js';

/** The capture section of the config as the capture stage's own options. */
export function captureOptions(c: Config['capture']): CaptureOptions {
  switch (c.driver) {
    case 'synthetic': {
      const s = c.synthetic;
      return {
        driver: 'synthetic',
        synthetic: {
          line: { seed: s.seed, defectRate: s.defectRate, maxDefects: s.maxDefects, classWeights: s.classWeights, poolSize: s.poolSize, look: s.look },
          rateHz: s.rateHz,
          count: s.count,
        },
      };
    }
    case 'replay':
      return { driver: 'replay', replay: c.replay! };
    case 'watch': {
      const { pattern, ...rest } = c.watch!;
      return { driver: 'watch', watch: { ...rest, ...(pattern ? { pattern } : {}) } };
    }
  }
}

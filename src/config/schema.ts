import { z } from 'zod';
import { DEFECT_CLASSES } from '../common/defects.js';
import { MODALITIES } from '../common/modality.js';
import { LOOKS } from '../sim/look.js';
import { controlSchema } from '../control/config.js';
import { telemetrySchema } from '../telemetry/config.js';

/**
 * The appliance's one configuration file. Every key has a default, so an empty file (or none)
 * runs the demo line. Strings may name environment variables as ${NAME} or ${NAME:-default}.
 */

const modality = z.enum(MODALITIES);

const synthetic = z
  .object({
    seed: z.number().int().default(1).describe('everything the line renders follows from this seed'),
    rateHz: z.number().min(0).default(15).describe('wafers per second; 0 = as fast as they are taken'),
    defectRate: z.number().min(0).max(1).default(0.3).describe('share of wafers with at least one defect'),
    maxDefects: z.number().int().min(1).max(20).default(3),
    classWeights: z.partialRecord(z.enum(DEFECT_CLASSES), z.number().min(0)).default({}).describe('relative frequency per defect class'),
    poolSize: z.number().int().min(0).default(8).describe('pre-rendered defect-free looks; 0 renders every wafer afresh'),
    look: z.enum(LOOKS).default('default').describe("ranges of wafer looks and defect appearances: 'default' (what the shipped model was trained on) or 'plant' (another plant's wafers, README)"),
    count: z.number().int().positive().optional().describe('stop after this many wafers'),
  })
  .strict();

const replay = z
  .object({
    lot: z.string().min(1).describe('folder of a recorded lot'),
    pace: z.enum(['recorded', 'max']).default('recorded'),
    loops: z.number().int().positive().default(1),
  })
  .strict();

const watch = z
  .object({
    dir: z.string().min(1).describe('folder the vendor capture software writes frames into'),
    pattern: z.string().optional().describe('file-name regex with named groups wafer and modality'),
    expect: z.array(modality).min(1).default([...MODALITIES]),
    timeoutMs: z.number().int().positive().default(3000),
    settleMs: z.number().int().min(0).default(100),
    pollMs: z.number().int().positive().default(500),
    after: z.enum(['keep', 'delete', 'move']).default('move'),
    lot: z.string().optional(),
  })
  .strict();

// controlSchema carries refinements (link ids, one writer per register), so it is extended without dropping them.
const control = controlSchema.safeExtend({
  arms: z
    .array(z.string().min(1))
    .default([])
    .describe("hardware profiles of the arms the links drive: a profile id shipped in hardware/, or a profile file"),
  stateDir: z.string().min(1).optional().describe('where actuators keep their sequence numbers; default: <service.stateDir>/actuators'),
  windowWafers: z.number().int().min(1).default(250).describe('inspected wafers summarised in one observation for the links'),
  connectTimeoutMs: z.number().int().min(100).default(5000).describe('how long start-up waits for an arm before declaring it degraded'),
  tickMs: z.number().int().min(100).default(10_000).describe('how often links check for stale observations'),
});

const service = z
  .object({
    httpPort: z.number().int().min(0).max(65535).default(9464).describe('/metrics and /healthz on 127.0.0.1; 0 picks a free port'),
    httpHost: z.string().min(1).default('127.0.0.1'),
    stateDir: z.string().min(1).optional().describe('outbox and actuator state; default: $STATE_DIRECTORY (systemd), else /var/lib/wafer-inspect'),
    stallAfterMs: z.number().int().min(100).default(10_000).describe('wafers in flight and none finished for this long: the line is stalled (no watchdog ping, /healthz 503)'),
    stopTimeoutMs: z.number().int().min(500).default(20_000).describe('orderly shutdown must end within this; keep it under the unit\'s TimeoutStopSec'),
    drainMs: z.number().int().min(0).default(5000).describe('part of the stop time given to the outbox to empty'),
  })
  .strict();

export const configSchema = z
  .object({
    station: z.string().min(1).default('reference').describe('station id: its calibration is calibration/<station>/'),
    calibrationDir: z.string().optional().describe('folder holding station calibrations; default: the package\'s calibration/'),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).strict().default({ level: 'info' }),
    capture: z
      .object({
        driver: z.enum(['synthetic', 'replay', 'watch']).default('synthetic'),
        synthetic: synthetic.default(synthetic.parse({})),
        replay: replay.optional(),
        watch: watch.optional(),
      })
      .strict()
      .superRefine((c, ctx) => {
        if (c.driver === 'replay' && !c.replay) ctx.addIssue({ code: 'custom', path: ['replay'], message: 'driver is replay but capture.replay (with lot) is missing' });
        if (c.driver === 'watch' && !c.watch) ctx.addIssue({ code: 'custom', path: ['watch'], message: 'driver is watch but capture.watch (with dir) is missing' });
      })
      .default({ driver: 'synthetic', synthetic: synthetic.parse({}) }),
    model: z
      .object({
        dir: z.string().optional().describe("model folder; default: the package's models/wafer-mm-14 (models/wafer-mm-9 for a visible camera coarser than 0.237 mm/px)"),
        variant: z.enum(['int8', 'fp32']).default('fp32').describe('fp32: as fast as int8 on 2 cores and more accurate (model card)'),
        threads: z.number().int().min(1).max(64).default(2).describe('threads one inference may use'),
        maxBatch: z.number().int().min(1).max(64).default(8),
        executionProviders: z.array(z.string()).min(1).default(['cpu']),
        spinWait: z.boolean().default(false).describe("onnxruntime's threads busy-wait between operators: a little faster alone, slower beside the fusion workers (README, benchmark)"),
      })
      .strict()
      .default({ variant: 'fp32', threads: 2, maxBatch: 8, executionProviders: ['cpu'], spinWait: false }),
    recipe: z.string().optional().describe("recipe file; default: the package's deploy/recipe.example.yaml"),
    thresholds: z.string().optional().describe("score thresholds file; default: thresholds.yaml in the station's calibration"),
    fusion: z
      .object({
        gridSize: z.number().int().min(32).max(1024).default(256).describe('cells per side of the wafer grid'),
        fieldMm: z.number().positive().default(320).describe('side of the square the grid covers, centred on the wafer'),
        roiRadiusMm: z.number().positive().default(158).describe('cells farther than this from the wafer centre are left out (mask 0)'),
        workers: z.number().int().min(1).max(64).optional().describe('fusion worker threads; default: one per core'),
      })
      .strict()
      .default({ gridSize: 256, fieldMm: 320, roiRadiusMm: 158 }),
    telemetry: telemetrySchema.default(() => telemetrySchema.parse({})),
    control: control.default(() => control.parse({})),
    service: service.default(() => service.parse({})),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.control.links.length > 0 && c.control.arms.length === 0) ctx.addIssue({ code: 'custom', path: ['control', 'arms'], message: 'links are configured but no arms: list the hardware profiles the links drive' });
  });

export type Config = z.infer<typeof configSchema>;

import { z } from 'zod';

const affine = z.tuple([z.tuple([z.number(), z.number(), z.number()]), z.tuple([z.number(), z.number(), z.number()])]);

/**
 * One camera of a station, as calibration measured it. Counts become model input as
 *   value = ((raw − dark) · flatLevel / (flat − dark) − range[0]) / (range[1] − range[0])
 * per pixel; without dark/flat files, raw counts are only scaled by range.
 */
export const cameraCalibrationSchema = z
  .object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    pxToMm: affine.describe('pixel centre (column, row) -> wafer mm'),
    dark: z.string().optional().describe('16-bit dark frame, relative to the station folder'),
    flat: z.string().optional().describe('16-bit flat frame (uniform source, or open beam for X-ray)'),
    flatLevel: z.number().positive().optional().describe('scene counts of the flat-field source; 1 gives a transmission'),
    range: z.tuple([z.number(), z.number()]).optional().describe('scene values mapped to 0..1'),
  })
  .strict();

export const stationCalibrationSchema = z
  .object({
    station: z.string().min(1),
    waferDiameterMm: z.number().positive().default(300),
    producedBy: z.string().optional(),
    modalities: z
      .object({
        visible: cameraCalibrationSchema.optional(),
        infrared: cameraCalibrationSchema.optional(),
        xray: cameraCalibrationSchema.optional(),
      })
      .strict(),
  })
  .strict();

export type CameraCalibration = z.infer<typeof cameraCalibrationSchema>;
export type StationCalibration = z.infer<typeof stationCalibrationSchema>;

import { MODALITIES } from '../common/modality.js';
import type { CalibrationSource } from '../station/produce.js';
import { IR_FLAT_LEVEL, renderCalibrationFrame, TARGET, targetDots } from './calibration-scenes.js';
import { buildStation, REFERENCE_STATION } from './station.js';

/** The simulated reference station as a calibration source: what a technician's calibration run would capture. */
export function syntheticCalibrationSource(takes: number): CalibrationSource {
  const station = buildStation(REFERENCE_STATION);
  return {
    station: station.id,
    waferDiameterMm: station.waferDiameterMm,
    modalities: [...MODALITIES],
    frame: (m, scene, take) => renderCalibrationFrame(station, m, scene, take),
    fields: { infrared: { flatLevel: IR_FLAT_LEVEL, range: [6000, 12000] }, xray: { flatLevel: 1 } },
    target: { marks: targetDots(), pitchMm: TARGET.pitchMm, markRadiusMm: TARGET.dotRadiusMm, sign: { visible: -1, infrared: 1, xray: -1 } },
    producedBy: `wafer-inspect calibrate station --synthetic --takes ${takes}`,
  };
}

import type { ResultRecord } from './result.js';

/**
 * KLARF 1.2, the defect-results text format fab yield systems read. The whole wafer is one "die"
 * (pitch = the wafer diameter, origin at its lower-left corner), so each defect's XREL/YREL is its
 * position in micrometres from there and XINDEX/YINDEX are 0. Sizes are the largest extent;
 * DEFECTAREA is that of a disc of that diameter. Classes are numbered from 1 in the given order,
 * listed in ClassLookup. Wafers that could not be inspected are listed without defects.
 */
export interface KlarfOptions {
  lot: string;
  station: string;
  recipe: string;
  classes: readonly string[];
  waferDiameterMm: number;
  timestamp: Date;
}

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

const quote = (s: string): string => `"${s.replace(/"/g, "'")}"`;

export function klarf(records: ResultRecord[], o: KlarfOptions): string {
  const um = o.waferDiameterMm * 1000;
  const half = um / 2;
  const area = Math.PI * half * half;
  const t = stamp(o.timestamp);
  const lines: string[] = [
    'FileVersion 1 2;',
    `FileTimestamp ${t};`,
    `InspectionStationID "wafer-inspect" ${quote(o.station)} ${quote(o.station)};`,
    'SampleType WAFER;',
    `ResultTimestamp ${t};`,
    `LotID ${quote(o.lot)};`,
    `SampleSize 1 ${o.waferDiameterMm};`,
    `SetupID ${quote(o.recipe)} ${t};`,
    'StepID "inspection";',
    'SampleOrientationMarkType NOTCH;',
    'OrientationMarkLocation DOWN;',
    `DiePitch ${um.toExponential(6)} ${um.toExponential(6)};`,
    'DieOrigin 0.000000e+00 0.000000e+00;',
    `ClassLookup ${o.classes.length}`,
    ...o.classes.map((c, i) => ` ${i + 1} ${quote(c)}${i === o.classes.length - 1 ? ';' : ''}`),
  ];
  records.forEach((r, slot) => {
    lines.push(`WaferID ${quote(r.wafer)};`, `Slot ${slot + 1};`, `SampleCenterLocation ${half.toExponential(6)} ${half.toExponential(6)};`);
    lines.push('InspectionTest 1;', 'SampleTestPlan 1', ' 0 0;', `AreaPerTest ${area.toExponential(6)};`);
    lines.push('DefectRecordSpec 11 DEFECTID XREL YREL XINDEX YINDEX XSIZE YSIZE DEFECTAREA DSIZE CLASSNUMBER TEST ;');
    lines.push('DefectList');
    r.findings.forEach((f, i) => {
      const size = f.sizeMm * 1000;
      const cls = o.classes.indexOf(f.class) + 1;
      const row = [i + 1, (f.xMm * 1000 + half).toFixed(1), (f.yMm * 1000 + half).toFixed(1), 0, 0, size.toFixed(1), size.toFixed(1), ((Math.PI * size * size) / 4).toFixed(1), size.toFixed(1), cls, 1];
      lines.push(` ${row.join(' ')}${i === r.findings.length - 1 ? ';' : ''}`);
    });
    if (r.findings.length === 0) lines[lines.length - 1] = 'DefectList;';
    lines.push('SummarySpec 5 TESTNO NDEFECT DEFDENSITY NDIE NDEFDIE ;', 'SummaryList');
    lines.push(` 1 ${r.findings.length} ${(r.findings.length / (area / 1e8)).toExponential(4)} 1 ${r.findings.length ? 1 : 0};`);
  });
  lines.push('EndOfFile;');
  return lines.join('\n') + '\n';
}

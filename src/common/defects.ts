/** The built-in defect classes (contracts §3), in the order the model's outputs use. */
export const DEFECT_CLASSES = [
  'edge-burr',
  'edge-chip',
  'scratch',
  'particle',
  'stain',
  'crack',
  'void',
  'hotspot',
] as const;
export type DefectClass = (typeof DEFECT_CLASSES)[number];

/** A defect really present on a wafer, in wafer millimetres (contracts §1): centre of its extent and largest extent. */
export interface TruthDefect {
  class: string;
  xMm: number;
  yMm: number;
  sizeMm: number;
}

export function isDefectClass(s: string): s is DefectClass {
  return (DEFECT_CLASSES as readonly string[]).includes(s);
}

/**
 * What a spec's words say about how much is too much and where, read by rules: sizes with units
 * ("longer than 0.5 mm", "over 200 um", "at least 2 millimetres across"), counts ("more than 3"),
 * and zones ("within 50 mm of the centre", "at the edge", "outside 140 mm").
 */

export interface SizeLimit {
  /** a defect violates when its largest extent is above (or at, when inclusive) this */
  mm: number;
  inclusive: boolean;
  /** the words it was read from */
  words: string;
}

export interface CountLimit {
  /** a wafer violates when it has more than this many (or at least, when inclusive) */
  count: number;
  inclusive: boolean;
  words: string;
}

export interface Zone {
  /** wafer radius band in mm (contracts §1: distance from the centre) */
  minRadiusMm: number;
  maxRadiusMm: number;
  words: string;
}

export interface ZoneDefaults {
  /** "at the edge" means beyond this radius */
  edgeFromMm: number;
  /** "in the centre" means within this radius */
  centreWithinMm: number;
  waferRadiusMm: number;
}

export const DEFAULT_ZONES: ZoneDefaults = { edgeFromMm: 140, centreWithinMm: 50, waferRadiusMm: 150 };

const NUM = String.raw`(\d+(?:[.,]\d+)?)`;
const UNIT = String.raw`(mm|millimet(?:er|re)s?|um|µm|μm|microns?|micromet(?:er|re)s?|cm|centimet(?:er|re)s?)`;
const UNIT_MM: Array<[RegExp, number]> = [
  [/^(mm|millimet)/, 1],
  [/^(um|µm|μm|micron|micromet)/, 0.001],
  [/^(cm|centimet)/, 10],
];

function toMm(value: string, unit: string): number {
  const v = Number(value.replace(',', '.'));
  const factor = UNIT_MM.find(([re]) => re.test(unit))?.[1] ?? 1;
  return v * factor;
}

const EXCLUSIVE = String.raw`longer than|larger than|bigger than|wider than|greater than|more than|over|above|exceeding|beyond|in excess of`;
const INCLUSIVE = String.raw`at least|of at least|no smaller than|not smaller than|minimum|min\.?`;
const SIZE_BEFORE = new RegExp(String.raw`\b(${EXCLUSIVE}|${INCLUSIVE})\s*${NUM}\s*${UNIT}\b`, 'i');
const SIZE_AFTER = new RegExp(String.raw`\b(?:of\s+)?${NUM}\s*${UNIT}\s+(or more|or larger|or longer|and (?:above|over|up))\b`, 'i');

/** "longer than 0.5 mm", "over 200um", "of 3 mm or more". Zone phrases are ignored here (see readZone). */
export function readSize(text: string): SizeLimit | undefined {
  const t = stripZones(text);
  const b = SIZE_BEFORE.exec(t);
  if (b) return { mm: toMm(b[2], b[3].toLowerCase()), inclusive: new RegExp(`^(${INCLUSIVE})$`, 'i').test(b[1]), words: b[0] };
  const a = SIZE_AFTER.exec(t);
  if (a) return { mm: toMm(a[1], a[2].toLowerCase()), inclusive: true, words: a[0] };
  return undefined;
}

const COUNT_BEFORE = /\b(more than|over|at least|above|exceeding)\s+(\d+)\b(?!\s*(?:[.,]\d)|\s*(?:mm|millimet|um|µm|μm|micron|micromet|cm|centimet))/i;
const COUNT_AFTER = /\b(\d+)\s+or more\b(?!\s*(?:mm|um|µm|μm|micron))/i;

/** "more than 3 particles", "at least 2 voids", "5 or more". A number with a unit is a size, not a count. */
export function readCount(text: string): CountLimit | undefined {
  const t = stripZones(text);
  const b = COUNT_BEFORE.exec(t);
  if (b) return { count: Number(b[2]), inclusive: /at least/i.test(b[1]), words: b[0] };
  const a = COUNT_AFTER.exec(t);
  if (a) return { count: Number(a[1]), inclusive: true, words: a[0] };
  return undefined;
}

const ZONE_RULES: Array<{ re: RegExp; zone: (m: RegExpExecArray, d: ZoneDefaults) => [number, number] }> = [
  { re: new RegExp(String.raw`\bwithin\s+(?:the\s+inner\s+)?${NUM}\s*${UNIT}?\s*(?:of\s+the\s+(?:centre|center|middle))?`, 'i'), zone: (m) => [0, toMm(m[1], m[2] ?? 'mm')] },
  { re: new RegExp(String.raw`\binside\s+(?:a\s+radius\s+of\s+)?${NUM}\s*${UNIT}?`, 'i'), zone: (m) => [0, toMm(m[1], m[2] ?? 'mm')] },
  { re: new RegExp(String.raw`\b(?:outside|beyond)\s+(?:a\s+radius\s+of\s+)?${NUM}\s*${UNIT}?(?:\s+radius)?`, 'i'), zone: (m, d) => [toMm(m[1], m[2] ?? 'mm'), d.waferRadiusMm + 10] },
  { re: /\b(?:at|on|near|along|close to|in)\s+the\s+(?:wafer\s+)?(?:edge|rim|periphery|circumference|bevel)(?:\s+zone)?\b/i, zone: (_m, d) => [d.edgeFromMm, d.waferRadiusMm + 10] },
  { re: /\b(?:in|at|near)\s+the\s+(?:centre|center|middle)\b/i, zone: (_m, d) => [0, d.centreWithinMm] },
];

function stripZones(text: string): string {
  let t = text;
  for (const r of ZONE_RULES) t = t.replace(new RegExp(r.re.source, 'gi'), ' ');
  return t;
}

/** Where the spec applies; undefined means the whole wafer ("anywhere" or nothing said). */
export function readZone(text: string, d: ZoneDefaults = DEFAULT_ZONES): Zone | undefined {
  for (const r of ZONE_RULES) {
    const m = r.re.exec(text);
    if (m) {
      const [lo, hi] = r.zone(m, d);
      return { minRadiusMm: lo, maxRadiusMm: hi, words: m[0].trim() };
    }
  }
  return undefined;
}

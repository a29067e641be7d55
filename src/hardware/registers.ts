import type { ParameterSpec } from './profile-schema.js';

/** Registers a parameter occupies. */
export function registerCount(p: Pick<ParameterSpec, 'type'>): number {
  return p.type === 'float32' ? 2 : 1;
}

/** Engineering value -> register words. The value must be representable (see fitValue); out-of-range integers throw. */
export function encode(p: ParameterSpec, value: number): number[] {
  if (!Number.isFinite(value)) throw new RangeError(`cannot encode ${value}`);
  const raw = value / p.scale;
  if (p.type === 'float32') {
    const b = Buffer.alloc(4);
    b.writeFloatBE(raw);
    const hi = b.readUInt16BE(0);
    const lo = b.readUInt16BE(2);
    return p.wordOrder === 'high-first' ? [hi, lo] : [lo, hi];
  }
  const n = Math.round(raw);
  if (p.type === 'uint16') {
    if (n < 0 || n > 65535) throw new RangeError(`${value} does not fit uint16 with scale ${p.scale}`);
    return [n];
  }
  if (n < -32768 || n > 32767) throw new RangeError(`${value} does not fit int16 with scale ${p.scale}`);
  // Signed values travel in two's complement, as Universal Robots and most PLCs expect.
  return [n & 0xffff];
}

/** Register words -> engineering value. */
export function decode(p: ParameterSpec, words: readonly number[]): number {
  if (p.type === 'float32') {
    const [hi, lo] = p.wordOrder === 'high-first' ? [words[0], words[1]] : [words[1], words[0]];
    const b = Buffer.alloc(4);
    b.writeUInt16BE(hi & 0xffff, 0);
    b.writeUInt16BE(lo & 0xffff, 2);
    return b.readFloatBE(0) * p.scale;
  }
  const w = words[0] & 0xffff;
  const n = p.type === 'int16' && w >= 0x8000 ? w - 0x10000 : w;
  return n * p.scale;
}

/** The value the register really holds after writing `value`: what a read-back will return. */
export function representable(p: ParameterSpec, value: number): number {
  return decode(p, encode(p, value));
}

/**
 * The representable value nearest to `value` inside [lo, hi], or undefined when none is. Rounding to
 * the register's resolution could otherwise push a clamped value just past a limit.
 */
export function fitValue(p: ParameterSpec, lo: number, hi: number, value: number): number | undefined {
  if (!(lo <= hi) || !Number.isFinite(value)) return undefined;
  const v = Math.min(hi, Math.max(lo, value));
  const inside = (x: number) => x >= lo && x <= hi;
  if (p.type === 'float32') {
    let x = v;
    for (let i = 0; i < 8; i++) {
      const r = representable(p, x);
      if (inside(r)) return r;
      // Nudge inwards by a few float32 ulps and try again.
      const ulp = Math.max(Math.abs(x), 1e-30) * 2 ** -22;
      x = r > hi ? x - ulp : x + ulp;
    }
    return undefined;
  }
  const candidates = [Math.round(v / p.scale), Math.floor(hi / p.scale), Math.ceil(lo / p.scale)];
  for (const n of candidates) {
    const r = n * p.scale;
    if (inside(r) && fits(p, n)) return r;
    for (const k of [n - 1, n + 1]) if (inside(k * p.scale) && fits(p, k)) return k * p.scale;
  }
  return undefined;
}

function fits(p: ParameterSpec, n: number): boolean {
  return p.type === 'uint16' ? n >= 0 && n <= 65535 : n >= -32768 && n <= 32767;
}

/** Register value -> words for a plain counter register (heartbeat, sequence, ack). */
export function wrap16(n: number): number {
  return ((n % 65536) + 65536) % 65536;
}

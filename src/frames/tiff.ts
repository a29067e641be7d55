import type { PixelData, RawFrame } from './frame.js';

/**
 * Baseline TIFF, uncompressed, one strip, little-endian: the project's own recording format.
 * Writing it costs a header; reading it costs a header parse and, when aligned, no copy at all.
 * Any other TIFF (compressed, tiled, big-endian, several strips) is left to sharp.
 */

const TAG = {
  width: 256,
  height: 257,
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  stripOffsets: 273,
  samplesPerPixel: 277,
  rowsPerStrip: 278,
  stripByteCounts: 279,
  planar: 284,
  sampleFormat: 339,
} as const;

const HEADER_BYTES = 8;
const DATA_ALIGN = 64;

export function encodeTiff(f: RawFrame): Buffer {
  const entries: Array<[number, number, number, number]> = []; // tag, type, count, value
  const SHORT = 3;
  const LONG = 4;
  const nTags = 10;
  const ifdBytes = 2 + nTags * 12 + 4;
  const bpsOffset = HEADER_BYTES + ifdBytes; // three SHORTs when RGB
  const dataOffset = Math.ceil((bpsOffset + 8) / DATA_ALIGN) * DATA_ALIGN;
  const byteCount = f.width * f.height * f.channels * (f.depth / 8);
  entries.push([TAG.width, LONG, 1, f.width]);
  entries.push([TAG.height, LONG, 1, f.height]);
  entries.push([TAG.bitsPerSample, SHORT, f.channels, f.channels === 1 ? f.depth : bpsOffset]);
  entries.push([TAG.compression, SHORT, 1, 1]);
  entries.push([TAG.photometric, SHORT, 1, f.channels === 3 ? 2 : 1]);
  entries.push([TAG.stripOffsets, LONG, 1, dataOffset]);
  entries.push([TAG.samplesPerPixel, SHORT, 1, f.channels]);
  entries.push([TAG.rowsPerStrip, LONG, 1, f.height]);
  entries.push([TAG.stripByteCounts, LONG, 1, byteCount]);
  entries.push([TAG.planar, SHORT, 1, 1]);
  const out = Buffer.alloc(dataOffset + byteCount);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(HEADER_BYTES, 4);
  let p = HEADER_BYTES;
  out.writeUInt16LE(nTags, p);
  p += 2;
  for (const [tag, type, count, value] of entries) {
    out.writeUInt16LE(tag, p);
    out.writeUInt16LE(type, p + 2);
    out.writeUInt32LE(count, p + 4);
    if (type === SHORT && count === 1) out.writeUInt16LE(value, p + 8);
    else out.writeUInt32LE(value, p + 8);
    p += 12;
  }
  out.writeUInt32LE(0, p);
  if (f.channels === 3) for (let i = 0; i < 3; i++) out.writeUInt16LE(f.depth, bpsOffset + 2 * i);
  const src = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
  src.copy(out, dataOffset);
  return out;
}

export function isTiff(b: Uint8Array): boolean {
  return b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 42 && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 42));
}

export class TiffError extends Error {
  override name = 'TiffError';
}

/**
 * Reads an uncompressed little-endian single-strip TIFF without copying the pixels when it can.
 * Returns null for a valid TIFF this fast path does not handle; throws TiffError for a broken one.
 */
export function decodeSimpleTiff(b: Uint8Array): RawFrame | null {
  if (!isTiff(b) || b[0] !== 0x49) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < HEADER_BYTES) throw new TiffError('truncated TIFF header');
  const ifd = dv.getUint32(4, true);
  if (ifd + 2 > b.length) throw new TiffError(`truncated TIFF: directory at byte ${ifd} is past the end (${b.length} bytes)`);
  const n = dv.getUint16(ifd, true);
  if (ifd + 2 + n * 12 > b.length) throw new TiffError('truncated TIFF directory');
  const tags = new Map<number, { type: number; count: number; at: number }>();
  for (let i = 0; i < n; i++) {
    const at = ifd + 2 + i * 12;
    tags.set(dv.getUint16(at, true), { type: dv.getUint16(at + 2, true), count: dv.getUint32(at + 4, true), at: at + 8 });
  }
  const scalar = (tag: number, dflt?: number): number | undefined => {
    const t = tags.get(tag);
    if (!t) return dflt;
    if (t.count !== 1) return undefined;
    return t.type === 3 ? dv.getUint16(t.at, true) : dv.getUint32(t.at, true);
  };
  const width = scalar(TAG.width);
  const height = scalar(TAG.height);
  const compression = scalar(TAG.compression, 1);
  const spp = scalar(TAG.samplesPerPixel, 1);
  const planar = scalar(TAG.planar, 1);
  const offset = scalar(TAG.stripOffsets);
  const count = scalar(TAG.stripByteCounts);
  const sampleFormat = scalar(TAG.sampleFormat, 1);
  const bpsTag = tags.get(TAG.bitsPerSample);
  let bps = 1;
  if (bpsTag) {
    if (bpsTag.count === 1) bps = dv.getUint16(bpsTag.at, true);
    else {
      const at = bpsTag.count * 2 <= 4 ? bpsTag.at : dv.getUint32(bpsTag.at, true);
      if (at + bpsTag.count * 2 > b.length) throw new TiffError('truncated TIFF: BitsPerSample past the end');
      bps = dv.getUint16(at, true);
      for (let i = 1; i < bpsTag.count; i++) if (dv.getUint16(at + 2 * i, true) !== bps) return null;
    }
  }
  if (width === undefined || height === undefined || offset === undefined || count === undefined) return null;
  if (compression !== 1 || planar !== 1 || sampleFormat !== 1) return null;
  if (spp !== 1 && spp !== 3) return null;
  if (bps !== 8 && bps !== 16) return null;
  const expected = width * height * spp * (bps / 8);
  if (count < expected) return null; // several strips: let sharp assemble them
  if (offset + expected > b.length) {
    throw new TiffError(`truncated TIFF: pixel data needs ${expected} bytes from byte ${offset}, the file has ${Math.max(0, b.length - offset)}`);
  }
  const start = b.byteOffset + offset;
  let data: PixelData;
  if (bps === 8) data = new Uint8Array(b.buffer, start, expected);
  else if (start % 2 === 0) data = new Uint16Array(b.buffer, start, expected / 2);
  else data = new Uint16Array(b.slice(offset, offset + expected).buffer);
  return { width, height, channels: spp as 1 | 3, depth: bps as 8 | 16, data };
}

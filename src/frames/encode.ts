import sharp from 'sharp';
import type { RawFrame } from './frame.js';
import { encodeTiff } from './tiff.js';

/** Formats a recording can be written in: tiff replays fastest; png is smaller and what other tools most often read. */
export const FRAME_FORMATS = ['tiff', 'png'] as const;
export type FrameFormat = (typeof FRAME_FORMATS)[number];

export async function encodeFrame(f: RawFrame, format: FrameFormat): Promise<Buffer> {
  if (format === 'tiff') return encodeTiff(f);
  // sharp takes the sample depth of raw input from the typed array's type
  const img = sharp(f.data, { raw: { width: f.width, height: f.height, channels: f.channels } });
  const typed = f.depth === 16 ? img.toColourspace('grey16') : img;
  return typed.png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
}

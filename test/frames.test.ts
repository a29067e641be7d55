import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { decodeBytes, decodeFrame } from '../src/frames/decode.js';
import { encodeFrame } from '../src/frames/encode.js';
import type { RawFrame } from '../src/frames/frame.js';
import { decodeSimpleTiff, encodeTiff } from '../src/frames/tiff.js';
import { tempDir } from './helpers.js';

function rgb(w: number, h: number): RawFrame {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 7)) & 255;
  return { width: w, height: h, channels: 3, depth: 8, data };
}

function grey16(w: number, h: number): RawFrame {
  const data = new Uint16Array(w * h);
  for (let i = 0; i < data.length; i++) data[i] = (i * 977 + 12345) & 0xffff;
  return { width: w, height: h, channels: 1, depth: 16, data };
}

t.test('own TIFF: round trip without a copy, and other tools read it the same', async (t) => {
  for (const f of [rgb(33, 17), grey16(40, 24)]) {
    const bytes = encodeTiff(f);
    const back = decodeSimpleTiff(bytes)!;
    t.equal(back.width, f.width);
    t.equal(back.height, f.height);
    t.equal(back.channels, f.channels);
    t.equal(back.depth, f.depth);
    t.same(Array.from(back.data), Array.from(f.data));
    t.equal(back.data.buffer, bytes.buffer, 'pixels are a view into the file bytes');
    const img = sharp(bytes);
    const viaSharp = await (f.depth === 16 ? img.toColourspace('grey16').raw({ depth: 'ushort' }) : img.raw()).toBuffer({ resolveWithObject: true });
    t.equal(viaSharp.info.width, f.width);
    const px = f.depth === 16 ? new Uint16Array(viaSharp.data.buffer, viaSharp.data.byteOffset, viaSharp.data.length / 2) : viaSharp.data;
    t.same(Array.from(px), Array.from(f.data), `libtiff reads our ${f.depth}-bit TIFF identically`);
  }
});

t.test('PNG, JPEG and 16-bit PNG/TIFF from other tools decode to the contract formats', async (t) => {
  const g = grey16(64, 48);
  const png16 = await encodeFrame(g, 'png');
  const ir = await decodeBytes('infrared', png16, 'ir.png');
  t.same(Array.from(ir.data), Array.from(g.data), '16-bit PNG keeps every count');
  const lzw = await sharp(g.data, { raw: { width: 64, height: 48, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'lzw' }).toBuffer();
  t.same(Array.from((await decodeBytes('xray', lzw, 'x.tiff')).data), Array.from(g.data), 'compressed 16-bit TIFF goes through sharp');
  const c = rgb(64, 48);
  const jpeg = await sharp(c.data, { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer();
  const vis = await decodeBytes('visible', jpeg, 'v.jpg');
  t.equal(vis.channels, 3);
  t.equal(vis.depth, 8);
  t.equal(vis.data.length, 64 * 48 * 3);
});

t.test('bad frames are errors that name the modality, the file and the fault', async (t) => {
  const dir = tempDir(t);
  const eight = await sharp(rgb(32, 32).data, { raw: { width: 32, height: 32, channels: 3 } }).greyscale().png().toBuffer();
  await t.rejects(decodeBytes('infrared', eight, 'ir.png'), { message: /infrared: ir\.png: wrong bit depth.*8-bit.*expected 16-bit/ });
  const tiff = encodeTiff(grey16(64, 64));
  await t.rejects(decodeBytes('xray', tiff.subarray(0, 3000), 'xr.tiff'), { message: /xray: xr\.tiff: truncated TIFF/ });
  const png = await encodeFrame(rgb(64, 64), 'png');
  writeFileSync(join(dir, 'cut.png'), png.subarray(0, png.length >> 1));
  await t.rejects(decodeFrame('visible', { kind: 'file', path: join(dir, 'cut.png') }), { name: 'FrameError', message: /visible: .*cut\.png: cannot decode/ });
  await t.rejects(decodeFrame('visible', { kind: 'file', path: join(dir, 'nope.png') }), { message: /visible: cannot read .*nope\.png: no such file/ });
  await t.rejects(decodeBytes('visible', Buffer.from('not an image at all'), 'junk.png'), { message: /visible: junk\.png: cannot decode/ });
  await t.rejects(decodeBytes('visible', new Uint8Array(0), 'empty.png'), { message: /empty/ });
  await t.rejects(decodeBytes('infrared', encodeTiff(rgb(16, 16)), 'rgb.tiff'), { message: /wrong bit depth/ });
});

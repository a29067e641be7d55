import type { CaptureDriver } from './driver.js';
import { ReplayCapture, type ReplayOptions } from './replay.js';
import { SyntheticCapture, type SyntheticCaptureOptions } from './synthetic.js';
import { DEFAULT_WATCH, WatchFolderCapture, type WatchFolderOptions } from './watch-folder.js';

export type { CaptureDriver } from './driver.js';
export { sourceVisibleGeometry } from './driver.js';

export type CaptureOptions =
  | { driver: 'synthetic'; synthetic: SyntheticCaptureOptions }
  | { driver: 'replay'; replay: ReplayOptions }
  | { driver: 'watch'; watch: Partial<WatchFolderOptions> & { dir: string } };

export function createCapture(o: CaptureOptions): CaptureDriver {
  switch (o.driver) {
    case 'synthetic':
      return new SyntheticCapture(o.synthetic);
    case 'replay':
      return new ReplayCapture(o.replay);
    case 'watch':
      return new WatchFolderCapture({ ...DEFAULT_WATCH, ...o.watch });
  }
}

import t from 'tap';
import type { FusedWafer } from '../src/fusion/result.js';
import { Inspector } from '../src/inspection/inspector.js';
import type { Queries } from '../src/model/image.js';
import type { LoadedModel } from '../src/model/load.js';

/** A model whose scoring is held until the test lets it go, and which records what it scored and when it was closed. */
function fakeModel(id: string, o: { hold: boolean }) {
  const held: Array<() => void> = [];
  const scored: string[] = [];
  let closed = false;
  const manifest = { id, grid: { size: 64, fieldMm: 320 }, outputStride: 4, embedding: 2 };
  const model = {
    id,
    manifest,
    image: {
      queries: (e: Float32Array[]): Queries => ({ data: new Float32Array(e.length * 2), specs: e.length, verify: new Int32Array(e.length).fill(-1) }),
      needsVisible: () => false,
      score: (tensor: Float32Array) => {
        if (closed) return Promise.reject(new Error(`${id} is closed`));
        scored.push(String(tensor[0]));
        const r = { scores: new Float32Array(0), tensor, checks: [], batch: 1, runMs: 1, verifyMs: 0 };
        return o.hold ? new Promise<typeof r>((resolve) => held.push(() => resolve(r))) : Promise.resolve(r);
      },
    },
    close: async () => {
      closed = true;
    },
  } as unknown as LoadedModel;
  return { model, scored, release: () => held.splice(0).forEach((f) => f()), get closed() { return closed; } };
}

function wafer(i: number, withTensor = true): FusedWafer {
  return { wafer: `w${i}`, seq: i, atMs: 0, arrivedAt: Date.now(), modalities: { visible: 'ok', infrared: 'ok', xray: 'ok' }, problems: [], tensor: withTensor ? new Float32Array([i]) : null, timings: { decodeMs: 0, fuseMs: 0, placesMs: 0 } };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('a model swap: wafers already with the old model finish there and name it; new ones go to the new model; the old one is handed back only when empty', async (t) => {
  const a = fakeModel('A@1', { hold: true });
  const b = fakeModel('B@2', { hold: false });
  const inspector = new Inspector(a.model, []);
  const first = [inspector.inspect(wafer(1)), inspector.inspect(wafer(2))];
  await tick();
  let handedBack: LoadedModel | null = null;
  const swapped = inspector.useModel(b.model, []).then((m) => (handedBack = m));
  t.equal(inspector.model, b.model, 'the new model is the current one at once');
  const after = await Promise.all([inspector.inspect(wafer(3)), inspector.inspect(wafer(4, false))]);
  t.same(after.map((w) => w.record.model), ['B@2', 'B@2'], 'wafers after the swap are scored and named by the new model');
  await tick();
  t.equal(handedBack, null, 'the old model is not handed back while wafers are on it');
  a.release();
  const before = await Promise.all(first);
  t.same(before.map((w) => w.record.model), ['A@1', 'A@1'], 'wafers handed to the old model are named by it');
  t.same(before.map((w) => w.record.verdict), ['pass', 'pass'], 'and inspected, not lost to the swap');
  await swapped;
  t.equal(handedBack, a.model, 'the old model is handed back once its last wafer is done');
  t.same(a.scored, ['1', '2'], 'the old model scored only the wafers before the swap');
  t.same(b.scored, ['3'], 'the new model scored only the wafer after it (the one without a tensor is not scored)');
});

t.test('a swap with nothing in flight hands the old model back at once; a spec change keeps the model and its waiting wafers', async (t) => {
  const a = fakeModel('A@1', { hold: true });
  const b = fakeModel('B@2', { hold: false });
  const inspector = new Inspector(a.model, []);
  const pending = inspector.inspect(wafer(1));
  await tick();
  inspector.setSpecs([]);
  let idle = false;
  const waiting = inspector.idle(a.model).then(() => (idle = true));
  await tick();
  t.equal(idle, false, 'a spec change does not lose count of the wafer on the model');
  a.release();
  t.equal((await pending).record.model, 'A@1');
  await waiting;
  t.equal(await inspector.useModel(b.model, []), a.model, 'nothing in flight: handed back at once');
  await inspector.useModel(a.model, []);
  t.equal(inspector.model, a.model);
});

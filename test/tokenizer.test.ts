import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Tokenizer } from '../src/model/tokenizer.js';
import { REPO_ROOT } from './helpers.js';

t.test('the TypeScript tokenizer gives the training tool’s ids for every line of the spec corpus', async (t) => {
  const tok = await Tokenizer.load(join(REPO_ROOT, 'models/wafer-mm-9/tokenizer.json'));
  const lines = readFileSync(join(REPO_ROOT, 'models/specs/corpus.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('\t') && !l.startsWith('#'))
    .map((l) => l.split('\t')[1]);
  const expected = readFileSync(join(REPO_ROOT, 'models/specs/corpus.ids'), 'utf8').split('\n');
  t.ok(lines.length > 10000, `${lines.length} corpus lines`);
  const wrong: string[] = [];
  for (const [i, text] of lines.entries()) {
    const got = tok.encode(text).join(' ');
    if (got !== expected[i]) wrong.push(`line ${i + 1} "${text}": ${got} != ${expected[i]}`);
  }
  t.same(wrong.slice(0, 5), [], `${wrong.length} lines differ`);
});

t.test('normalisation: units, case, numbers and unknown characters', async (t) => {
  const tok = await Tokenizer.load(join(REPO_ROOT, 'models/wafer-mm-9/tokenizer.json'));
  t.same(tok.encode('Void over 200 µm'), tok.encode('void over 7 um'), 'µm reads as um and every number is one <num>');
  t.same(tok.encode('VOID'), tok.encode('void'));
  t.ok(tok.encode('void ☃').includes(1), 'a character never seen is <unk>');
  const { ids, length } = tok.padded('edge burr longer than 2 mm');
  t.equal(ids.length, tok.maxLength);
  t.ok(length > 3 && ids.slice(length).every((i) => i === 0));
});

import { readFile } from 'node:fs/promises';

/**
 * The spec tokenizer: byte-pair encoding trained on the spec corpus (models/tools/bpe.py). Same
 * normalisation (NFKC, micro sign as "u", lower case), same split into words, numbers as one <num>
 * token, merges applied lowest rank first: the ids are the training tool's, line for line.
 */
export interface TokenizerSpec {
  version: number;
  pattern: string;
  end: string;
  specials: { '<pad>': number; '<unk>': number; '<num>': number };
  maxLength: number;
  vocab: Record<string, number>;
  merges: Array<[string, string]>;
}

export class Tokenizer {
  readonly maxLength: number;
  private readonly re: RegExp;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(readonly spec: TokenizerSpec) {
    if (spec.version !== 1) throw new Error(`tokenizer version ${spec.version} is not supported`);
    this.maxLength = spec.maxLength;
    this.re = new RegExp(spec.pattern, 'g');
    spec.merges.forEach(([a, b], i) => this.ranks.set(`${a}\u0000${b}`, i));
  }

  static async load(path: string): Promise<Tokenizer> {
    return new Tokenizer(JSON.parse(await readFile(path, 'utf8')) as TokenizerSpec);
  }

  static normalise(text: string): string {
    return text.normalize('NFKC').replaceAll('\u03bc', 'u').replaceAll('\u00b5', 'u').toLowerCase();
  }

  words(text: string): string[] {
    return Tokenizer.normalise(text).match(this.re) ?? [];
  }

  private wordIds(word: string): number[] {
    if (word[0] >= '0' && word[0] <= '9') return [this.spec.specials['<num>']];
    const hit = this.cache.get(word);
    if (hit) return hit;
    const chars = [...word];
    let syms = [...chars.slice(0, -1), chars[chars.length - 1] + this.spec.end];
    while (syms.length > 1) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i < syms.length - 1; i++) {
        const r = this.ranks.get(`${syms[i]}\u0000${syms[i + 1]}`);
        if (r !== undefined && r < best) (best = r), (at = i);
      }
      if (at < 0) break;
      syms = [...syms.slice(0, at), syms[at] + syms[at + 1], ...syms.slice(at + 2)];
    }
    const ids = syms.map((s) => this.spec.vocab[s] ?? this.spec.specials['<unk>']);
    this.cache.set(word, ids);
    return ids;
  }

  /** Ids of the text, at most maxLength; `padded` fills up to maxLength with <pad>. */
  encode(text: string): number[] {
    return this.words(text)
      .flatMap((w) => this.wordIds(w))
      .slice(0, this.maxLength);
  }

  padded(text: string): { ids: number[]; length: number } {
    const ids = this.encode(text);
    const length = ids.length;
    while (ids.length < this.maxLength) ids.push(this.spec.specials['<pad>']);
    return { ids, length };
  }
}

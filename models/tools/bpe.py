"""A byte-pair-encoding tokenizer trained on the spec corpus. The TypeScript runtime
(src/model/tokenizer.ts) implements the same normalisation, split and merges, and a test checks
that both give the same ids for every line of the corpus.

    /usr/bin/python3 models/tools/bpe.py --corpus models/specs/corpus.tsv --merges 700 --out build/tokenizer.json
"""
import argparse
import collections
import json
import re
import unicodedata

PATTERN = r"[a-z]+|[0-9]+(?:[.,][0-9]+)?|[^\sa-z0-9]"
SPECIALS = {"<pad>": 0, "<unk>": 1, "<num>": 2}
END = "</w>"
MAX_LENGTH = 32


def normalise(text):
    """NFKC, micro signs read as 'u' (µm = um), lower case."""
    text = unicodedata.normalize("NFKC", text).replace("\u03bc", "u").replace("\u00b5", "u")
    return text.lower()


def words(text):
    return re.findall(PATTERN, normalise(text))


def symbols(word):
    return list(word[:-1]) + [word[-1] + END]


def train(texts, n_merges):
    counts = collections.Counter(w for t in texts for w in words(t) if not w[0].isdigit())
    vocab = {tuple(symbols(w)): c for w, c in counts.items()}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for syms, c in vocab.items():
            for i in range(len(syms) - 1):
                pairs[(syms[i], syms[i + 1])] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], tuple(-ord(ch) for ch in kv[0][0] + "\0" + kv[0][1])))[0]
        merges.append(best)
        merged = {}
        for syms, c in vocab.items():
            out, i = [], 0
            while i < len(syms):
                if i < len(syms) - 1 and (syms[i], syms[i + 1]) == best:
                    out.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        vocab = merged
    tokens = dict(SPECIALS)
    base = sorted({s for w in counts for s in symbols(w)} | {ch for w in counts for ch in w} | {ch + END for w in counts for ch in w})
    for s in base + [a + b for a, b in merges]:
        if s not in tokens:
            tokens[s] = len(tokens)
    return {"version": 1, "pattern": PATTERN, "normalise": "nfkc, micro sign as u, lower case", "end": END,
            "specials": SPECIALS, "maxLength": MAX_LENGTH, "vocab": tokens, "merges": [[a, b] for a, b in merges]}


class Tokenizer:
    def __init__(self, spec):
        self.vocab = spec["vocab"]
        self.ranks = {(a, b): i for i, (a, b) in enumerate(spec["merges"])}
        self.max_length = spec["maxLength"]
        self.cache = {}

    def word_ids(self, word):
        if word[0].isdigit():
            return [SPECIALS["<num>"]]
        if word in self.cache:
            return self.cache[word]
        syms = symbols(word)
        while len(syms) > 1:
            ranked = [(self.ranks.get((syms[i], syms[i + 1]), 1 << 30), i) for i in range(len(syms) - 1)]
            rank, i = min(ranked)
            if rank == 1 << 30:
                break
            syms = syms[:i] + [syms[i] + syms[i + 1]] + syms[i + 2:]
        ids = [self.vocab.get(s, SPECIALS["<unk>"]) for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        """Token ids padded with <pad> to maxLength, and the count of real tokens."""
        ids = [i for w in words(text) for i in self.word_ids(w)][: self.max_length]
        n = len(ids)
        return ids + [SPECIALS["<pad>"]] * (self.max_length - n), n


def read_corpus(path):
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in f if not line.startswith("#") and "\t" in line]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="models/specs/corpus.tsv")
    ap.add_argument("--merges", type=int, default=700)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ids-out", default="models/specs/corpus.ids", help="ids of every corpus line, for the TypeScript tokenizer's test")
    a = ap.parse_args()
    rows = read_corpus(a.corpus)
    spec = train([t for _, t in rows], a.merges)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, separators=(",", ":"))
    tok = Tokenizer(spec)
    with open(a.ids_out, "w") as f:
        for _, t in rows:
            ids, n = tok.encode(t)
            f.write(" ".join(map(str, ids[:n])) + "\n")
    unk = sum(1 for _, t in rows for i in tok.encode(t)[0] if i == SPECIALS["<unk>"])
    print("%s: %d tokens, %d merges; %d unknown tokens in the corpus" % (a.out, len(spec["vocab"]), len(spec["merges"]), unk))

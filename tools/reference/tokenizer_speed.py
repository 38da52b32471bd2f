#!/usr/bin/env python3
"""Speed of the reference tokenizer on QNLI dev, to compare with `swift run --package-path Benchmarks -c release tokenizer-bench`.

    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 .venv/bin/python tools/reference/tokenizer_speed.py

Encodes every (question, sentence) pair of QNLI dev.tsv with longest_first truncation to 128, and every
sentence of both columns alone, single-threaded, best of several runs:
  rust batch       tokenizers.Tokenizer.encode_batch (the Rust pipeline, one thread)
  transformers     BertTokenizer.__call__ on the whole list (what a user calls)
"""
import os
import pathlib
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
from transformers import BertTokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
lines = (ROOT.parent / "shared/data/glue/QNLI/dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
rows = [line.split("\t") for line in lines if line]
questions, sentences = [r[1] for r in rows], [r[2] for r in rows]
tok = BertTokenizer.from_pretrained(str(ROOT / "models/all-MiniLM-L6-v2"))
backend = tok.backend_tokenizer
backend.no_padding()  # tokenizer.json pads to 128; transformers turns that off per call too
backend.enable_truncation(128, strategy="longest_first")
pieces = sum(len(e.ids) for e in backend.encode_batch(list(zip(questions, sentences))))


def best(label, work, runs=7):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    t = min(times)
    print(f"{label:<44} {t * 1000:8.1f} ms  {len(rows) / t:9.0f} pairs/s")


best("rust batch, pairs, max_length 128", lambda: backend.encode_batch(list(zip(questions, sentences))))
backend.no_truncation()
best("rust batch, 2 x 5463 sentences", lambda: backend.encode_batch(questions + sentences))
best("transformers tok(q, s, longest_first, 128)",
     lambda: tok(questions, sentences, truncation="longest_first", max_length=128))
print(f"{len(rows)} pairs, {pieces} pieces with specials (truncated to 128)")

#!/usr/bin/env python3
"""Fine-tunes random-weight models of the other encoder families with `bertology finetune`, then loads each result
with transformers and checks that it predicts what `bertology eval` predicts (developer tool; needs the reference
environment of tools/reference/make-venv, never run by CI).

For RoBERTa-shaped and ALBERT-shaped models (and, with --all, XLM-R, DistilBERT and ELECTRA): transformers builds a
small random-weight `*ForSequenceClassification`-compatible encoder and saves it with a WordPiece vocab.txt (the
same word-piece vocabulary for every family here: what is checked is the model, and BertTokenizer over that
vocab.txt gives transformers the ids Bertology's tokenizer gives); `bertology finetune --task MRPC` trains it on a
seeded sample; transformers' `AutoModelForSequenceClassification` loads the output folder (no missing or unexpected
tensor allowed) and scores MRPC dev; the predictions must be identical and the logits within 1e-5 of
`bertology eval --predictions` on the same examples.

    .venv/bin/python tools/family_finetune_check.py [--data GLUE_DIR] [--limit 96] [--all] [--bertology BIN]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import (AlbertConfig, AlbertModel, AutoModelForSequenceClassification, BertTokenizer,
                          DistilBertConfig, DistilBertModel, ElectraConfig, ElectraModel, RobertaConfig, RobertaModel,
                          XLMRobertaConfig, XLMRobertaModel)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "reference"))
from make_model_fixtures import tiny_vocabulary  # noqa: E402

SIZES = dict(hidden_size=48, num_attention_heads=4, intermediate_size=96, num_hidden_layers=3)


def families(vocab_size):
    common = dict(vocab_size=vocab_size, max_position_embeddings=130)
    yield "roberta", RobertaModel(RobertaConfig(**SIZES, **common, type_vocab_size=1, pad_token_id=0))
    yield "albert", AlbertModel(AlbertConfig(**SIZES, **common, embedding_size=24, hidden_act="gelu_new",
                                             pad_token_id=0))
    yield "xlm-roberta", XLMRobertaModel(XLMRobertaConfig(**SIZES, **common, type_vocab_size=1, pad_token_id=0))
    yield "distilbert", DistilBertModel(DistilBertConfig(dim=48, n_heads=4, hidden_dim=96, n_layers=3, **common,
                                                         pad_token_id=0))
    yield "electra", ElectraModel(ElectraConfig(**SIZES, **common, embedding_size=24, pad_token_id=0))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "glue"))
    parser.add_argument("--limit", type=int, default=96)
    parser.add_argument("--all", action="store_true", help="also XLM-R, DistilBERT and ELECTRA")
    parser.add_argument("--bertology", default=str(ROOT / ".build" / "release" / "bertology"))
    args = parser.parse_args()
    torch.manual_seed(0)
    vocab = tiny_vocabulary()
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for family, model in families(len(vocab)):
            if not args.all and family not in ("roberta", "albert"):
                continue
            base, out = work / f"{family}-base", work / f"{family}-mrpc"
            # transformers' initialisation (std 0.02) gives near-uniform attention and near-constant logits; perturb
            # every weight so that the heads and the predictions differ from example to example.
            with torch.no_grad():
                for _, parameter in sorted(model.named_parameters()):
                    parameter.add_(0.1 * torch.randn(parameter.shape))
            model.save_pretrained(base)
            (base / "vocab.txt").write_text("\n".join(vocab) + "\n")
            run = lambda *a: subprocess.run([args.bertology, *a], check=True, capture_output=True, text=True)
            run("finetune", "--model", str(base), "--task", "MRPC", "--data", args.data, "--limit", str(args.limit),
                "--epochs", "1", "--out", str(out), "--force")
            predictions = work / f"{family}.jsonl"
            run("eval", "--model", str(out), "--task", "MRPC", "--data", args.data, "--limit", str(args.limit),
                "--predictions", str(predictions), "--force")
            ours = [json.loads(line) for line in predictions.read_text().splitlines()]
            loaded, info = AutoModelForSequenceClassification.from_pretrained(out, attn_implementation="eager",
                                                                                output_loading_info=True)
            loaded.eval()
            problems = {k: v for k, v in info.items() if v}
            tokenizer = BertTokenizer(str(out / "vocab.txt"), do_lower_case=True)
            rows = [line.rstrip("\n").split("\t") for line in open(Path(args.data) / "MRPC" / "dev.tsv")]
            worst, disagreements, largest, predicted = 0.0, 0, 0.0, set()
            for p in ours:
                row = rows[p["line"] - 1]
                encoded = tokenizer(row[3], row[4], truncation=True, max_length=128, return_tensors="pt")
                if family in ("roberta", "xlm-roberta", "distilbert"):
                    encoded.pop("token_type_ids", None)
                with torch.no_grad():
                    logits = loaded(**encoded).logits[0].tolist()
                worst = max(worst, max(abs(a - b) for a, b in zip(logits, p["logits"])))
                largest = max(largest, max(abs(x) for x in logits))
                predicted.add(p["prediction"])
                disagreements += int(max(range(2), key=lambda i: logits[i]) != max(range(2), key=lambda i: p["logits"][i]))
            ok = not problems and worst <= 1e-5 and disagreements == 0
            failures += not ok
            print(f"{family}: transformers loaded {type(loaded).__name__} ({problems or 'no missing/unexpected tensors'}); "
                  f"{len(ours)} MRPC dev examples ({len(predicted)} classes predicted, logits up to {largest:.3f}): "
                  f"{disagreements} different predictions, max |logit diff| {worst:.2e}"
                  f" -> {'ok' if ok else 'FAILED'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

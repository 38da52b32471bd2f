#!/usr/bin/env python3
"""`--precision int8` measured: speed against our fp32 and ONNX Runtime's dynamic int8 quantization, and accuracy.

Speed (same run, alternating): for each case, every round runs our `model-bench` in fp32 and in int8 (release
subprocesses) and ONNX Runtime's int8 model in this process, the order rotated each round so that a noisy shared
machine slows every side alike. A side's round result is the median of its timed iterations; the table gives
the median and min-max over the rounds of each side (sequences per second) and of the per-round ratios.
ONNX Runtime's model is the one users build for fast BERT on a CPU: the transformers model exported once
(torch.onnx.export, opset 17), fused by ORT's BERT optimizer (onnxruntime.transformers.optimizer), then
`quantize_dynamic(per_channel=True, weight_type=QInt8)`; intra-op threads = --threads.
Cases: bert-base shapes (random weights from transformers' BertConfig, seed 0) and the default model
(models/all-MiniLM-L6-v2, its own weights), batch 32, sequence 128, no padding.

Accuracy (--accuracy): STS-B dev zero-shot Spearman of the default model (cosine of mean-pooled embeddings):
`bertology eval --task STS-B` in fp32 and int8, and ONNX Runtime's int8 model of the same weights on the same
pairs (tokenized by the model's tokenizer.json with `tokenizers`, batched by token length so that no batch is
padded, mean pooling as sentence-transformers pools).

    .venv/bin/python tools/bench_int8.py                       # speed, 5 rounds, 2 threads
    .venv/bin/python tools/bench_int8.py --rounds 9 --json out.json
    .venv/bin/python tools/bench_int8.py --accuracy --no-speed  # STS-B only (needs GLUE data)

Needs torch, transformers, onnxruntime, tokenizers, numpy, scipy (the venv; developer machines only, never
CI), a `bertology` (--bin, default the release build) for --accuracy. Builds the release model-bench first
unless --no-build. Check `uptime` before and after: the numbers mean something only on a quiet machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per case (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every side (default 2)")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per side per round (default 3)")
    parser.add_argument("--no-build", action="store_true", help="use the existing Benchmarks/.build/release/model-bench")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed cases")
    parser.add_argument("--accuracy", action="store_true", help="also measure STS-B dev Spearman (fp32, int8, ORT int8)")
    parser.add_argument("--data", default=os.environ.get("BERTOLOGY_GLUE_DIR", str(ROOT.parent / "shared" / "data" / "glue")),
                        help="the GLUE folder (default $BERTOLOGY_GLUE_DIR or ../shared/data/glue)")
    parser.add_argument("--bin", default=str(ROOT / ".build" / "release" / "bertology"), help="the bertology for --accuracy")
    parser.add_argument("--json", metavar="FILE", help="also write every round's numbers to FILE")
    return parser.parse_args()


ARGS = parse_arguments()
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_grad_enabled(False)

RELEASE = ROOT / "Benchmarks" / ".build" / "release"
DEFAULT_MODEL = ROOT / "models" / "all-MiniLM-L6-v2"
# (name, model-bench --config, batch, seq)
CASES = [("bert-base b32 s128", "bert-base", 32, 128), ("all-MiniLM-L6-v2 b32 s128", str(DEFAULT_MODEL), 32, 128)]
SETTLE_SECONDS = 0.4  # both sides' thread pools spin after their last region (compare_torch.py says why)


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ours(config, batch, seq, precision):
    time.sleep(SETTLE_SECONDS)
    command = [str(RELEASE / "model-bench"), "--config", config, "--batch", str(batch), "--seq", str(seq),
               "--threads", str(ARGS.threads), "--iterations", str(ARGS.iterations), "--warmup", "1",
               "--precision", precision, "--json"]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    report = json.loads(result.stdout)
    if report.get("precision") != precision:
        sys.exit(f"model-bench ran {report.get('precision')}, not {precision}: {result.stderr.strip()}")
    return report["sequences_per_second"]["median"], report.get("precision_backend")


def torch_model(config):
    """The case's transformers model (eval mode): bert-base shapes with seeded random weights, or a checkpoint."""
    if config == "bert-base":
        torch.manual_seed(0)
        return transformers.BertModel(transformers.BertConfig(attn_implementation="eager")).eval()
    return transformers.AutoModel.from_pretrained(config, attn_implementation="eager").eval()


def ort_int8_session(model, folder):
    """ONNX Runtime's int8 model: export, BERT optimizer, quantize_dynamic per channel. Returns the session."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    class Hidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ids = torch.randint(1000, 2000, (2, 16))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(Hidden(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(folder / "model.onnx"),
                      input_names=names, output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names}, opset_version=17, dynamo=False)
    config = model.config
    fused = optimizer.optimize_model(str(folder / "model.onnx"), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size)
    fused.save_model_to_file(str(folder / "fused.onnx"))
    # The fused graph's contrib operators (Attention, SkipLayerNormalization) defeat ONNX shape inference; the
    # quantizer's own advice is to name the default tensor type.
    import onnx
    quantize_dynamic(str(folder / "fused.onnx"), str(folder / "int8.onnx"), per_channel=True, weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return ort_session(folder / "int8.onnx")


def ort_session(path):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = ARGS.threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def speed(report):
    rows = []
    for name, config, batch, seq in CASES:
        model = torch_model(config)
        folder = Path(tempfile.mkdtemp(prefix="bench-int8-"))
        # A fresh copy for the export (torch.onnx.export may leave the traced model changed).
        session = ort_int8_session(torch_model(config), folder)
        torch.manual_seed(1)
        ids = torch.randint(1000, 20000, (batch, seq))
        feeds = {"input_ids": ids.numpy(), "attention_mask": np.ones((batch, seq), np.int64),
                 "token_type_ids": np.zeros((batch, seq), np.int64)}
        reference = model(input_ids=ids).last_hidden_state.numpy()
        difference = float(np.abs(session.run(None, feeds)[0] - reference).max())
        print(f"  {name}: ORT int8 max |diff| from transformers fp32 on the last hidden state {difference:.3g}", file=sys.stderr)

        def ort_round():
            time.sleep(SETTLE_SECONDS)
            session.run(None, feeds)
            seconds = []
            for _ in range(ARGS.iterations):
                start = time.perf_counter()
                session.run(None, feeds)
                seconds.append(time.perf_counter() - start)
            return batch / statistics.median(seconds)

        sides = ["ours fp32", "ours int8", "ort int8"]
        speeds = {side: [] for side in sides}
        ratios = {"int8 / fp32": [], "int8 / ort int8": []}
        backend = None
        for round_index in range(ARGS.rounds):
            order = sides[round_index % 3:] + sides[:round_index % 3]
            got = {}
            for side in order:
                if side == "ort int8":
                    got[side] = ort_round()
                else:
                    got[side], ran = ours(config, batch, seq, side.split()[1])
                    backend = ran if side == "ours int8" else backend
            for side in sides:
                speeds[side].append(got[side])
            ratios["int8 / fp32"].append(got["ours int8"] / got["ours fp32"])
            ratios["int8 / ort int8"].append(got["ours int8"] / got["ort int8"])
            print(f"  {name}: round {round_index + 1}: " + ", ".join(f"{s} {got[s]:.2f}" for s in order) + " seq/s",
                  file=sys.stderr)
        report["speed"].append({"case": name, "seq_per_s": speeds, "ratio": ratios, "int8_backend": backend,
                                "ort_int8_max_diff": difference})
        rows.append((name, {s: summary(v) for s, v in speeds.items()}, {r: summary(v) for r, v in ratios.items()}, backend))
    return rows


def sts_b_pairs():
    path = Path(ARGS.data) / "STS-B" / "dev.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    a, b, score = header.index("sentence1"), header.index("sentence2"), header.index("score")
    rows = [line.split("\t") for line in lines[1:] if line]
    return [r[a] for r in rows], [r[b] for r in rows], np.array([float(r[score]) for r in rows])


def accuracy(report):
    from scipy.stats import pearsonr, spearmanr
    from tokenizers import Tokenizer
    results = {}
    bertology = ARGS.bin
    for precision in ("fp32", "int8"):
        output = subprocess.run([str(bertology), "eval", "--task", "STS-B", "--data", ARGS.data, "--model", str(DEFAULT_MODEL),
                                 "--precision", precision, "--json"], check=True, capture_output=True, text=True).stdout
        metrics = json.loads(output.strip().splitlines()[-1])["metrics"]
        results[f"ours {precision}"] = {"pearson": metrics["pearson"], "spearman": metrics["spearman"]}
    folder = Path(tempfile.mkdtemp(prefix="bench-int8-sts-"))
    session = ort_int8_session(torch_model(str(DEFAULT_MODEL)), folder)
    tokenizer = Tokenizer.from_file(str(DEFAULT_MODEL / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    tokenizer.no_padding()  # the model's tokenizer.json pads every text to 128: we batch by length instead
    first, second, gold = sts_b_pairs()

    def embed(texts, session):
        # Batches of texts of one token length, so no padding: the traced export's attention mask is only
        # correct for unpadded batches (transformers' mask code takes a Python branch on the mask when traced).
        encodings = tokenizer.encode_batch(texts)
        pooled = {}
        by_length = {}
        for index, e in enumerate(encodings):
            by_length.setdefault(len(e.ids), []).append(index)
        for length, indices in by_length.items():
            for start in range(0, len(indices), 32):
                chunk = indices[start:start + 32]
                ids = np.array([encodings[i].ids for i in chunk], np.int64)
                hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                            "token_type_ids": np.zeros_like(ids)})[0]
                for row, i in enumerate(chunk):
                    pooled[i] = hidden[row].mean(0)
        return np.stack([pooled[i] for i in range(len(texts))])

    # ORT's fp32 model (the fused one quantize_dynamic starts from) checks this evaluation: it must score fp32's.
    for name, model_session in (("ort fp32 (fused, before quantization)", ort_session(folder / "fused.onnx")), ("ort int8", session)):
        x, y = embed(first, model_session), embed(second, model_session)
        cosine = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
        results[name] = {"pearson": float(pearsonr(cosine, gold)[0]), "spearman": float(spearmanr(cosine, gold)[0])}
    report["accuracy"] = results
    return results


def main():
    report = {"threads": ARGS.threads, "rounds": ARGS.rounds, "speed": [], "cpu": cpu_name()}
    if not ARGS.no_speed:
        if not ARGS.no_build:
            subprocess.run(["swift", "build", "--package-path", "Benchmarks", "-c", "release", "--product", "model-bench"],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        rows = speed(report)
        print(f"\n{report['cpu']}, {ARGS.threads} threads, {ARGS.rounds} alternating rounds; seq/s median (min-max)")
        print("| case | ours fp32 | ours int8 | ORT int8 | int8 / fp32 | int8 / ORT int8 | int8 kernel |")
        print("|---|---|---|---|---|---|---|")
        for name, speeds, ratios, backend in rows:
            cell = lambda s: f"{s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f})"  # noqa: E731
            ratio = lambda s: f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"  # noqa: E731
            print(f"| {name} | {cell(speeds['ours fp32'])} | {cell(speeds['ours int8'])} | {cell(speeds['ort int8'])} | "
                  f"{ratio(ratios['int8 / fp32'])} | {ratio(ratios['int8 / ort int8'])} | {backend} |")
    if ARGS.accuracy:
        results = accuracy(report)
        print("\n| STS-B dev, all-MiniLM-L6-v2 | Pearson | Spearman | Spearman - ours fp32 |")
        print("|---|---|---|---|")
        for name, values in results.items():
            print(f"| {name} | {values['pearson']:.6f} | {values['spearman']:.6f} | "
                  f"{values['spearman'] - results['ours fp32']['spearman']:+.6f} |")
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps(report, indent=1))


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Bertology against PyTorch on the same machine, in the same run, alternating.

For each case, every round runs our side (a release `model-bench` or `kernel-bench`, as a subprocess)
and the reference side (PyTorch eager / numpy / torch GEMM, in this process) one after the other,
swapping which goes first each round, so that a noisy shared machine slows both alike. Each side's
round result is the median of its timed iterations; the table gives, over the rounds, the median and
min-max of each side and of the per-round ratio ours / theirs (> 1: we are faster).

    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/compare_torch.py                  # everything, 5 rounds, 2 threads
    .venv/bin/python tools/compare_torch.py --only gemm --rounds 9
    .venv/bin/python tools/compare_torch.py --only model --json out.json
    .venv/bin/python tools/compare_torch.py --only model --cases "bert-base b32 s128" --contenders eager,sdpa,ort

Model contenders (each case runs every one that computes what the case asks for; a case with attentions
returned compares only against eager, the one that can return them): `eager` transformers BertModel with
eager attention; `sdpa` the same with torch's scaled_dot_product_attention; `ort` ONNX Runtime on the model
exported once (torch.onnx.export, opset 17) and fused by its BERT optimizer
(onnxruntime.transformers.optimizer: EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu),
intra-op threads = --threads, checked against eager (max |diff| printed) before it is timed.

Needs torch, transformers and numpy (developer machines only, never CI). Builds the release
benchmarks first unless --no-build.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per case (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both sides (default 2)")
    parser.add_argument("--only", choices=["gemm", "model"], help="run only the GEMM or only the model cases")
    parser.add_argument("--no-build", action="store_true", help="use the existing Benchmarks/.build/release binaries")
    parser.add_argument("--json", metavar="FILE", help="also write every round's numbers to FILE")
    parser.add_argument("--cases", help="comma-separated model case names (default: all)")
    parser.add_argument("--contenders", default="eager,sdpa,ort",
                        help="model contenders among eager, sdpa, ort (default: all three)")
    return parser.parse_args()


ARGS = parse_arguments()
# Thread counts must be fixed before numpy (OpenBLAS) and torch (OpenMP/MKL) start their pools.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_grad_enabled(False)

RELEASE = ROOT / "Benchmarks" / ".build" / "release"  # the benchmarks are the package in Benchmarks/

# (name, our config name, layers, hidden, heads, intermediate, batch, seq, attentions)
MODEL_CASES = [
    ("bert-base b32 s128", "bert-base", 12, 768, 12, 3072, 32, 128, False),
    ("bert-base b32 s128 +attentions", "bert-base", 12, 768, 12, 3072, 32, 128, True),
    ("minilm-l6 b32 s128", "minilm-l6", 6, 384, 12, 1536, 32, 128, False),
    ("bert-base b1 s32", "bert-base", 12, 768, 12, 3072, 1, 32, False),
    ("minilm-l6 b1 s32", "minilm-l6", 6, 384, 12, 1536, 1, 32, False),
]
# (M, N, K): out (M,N) = x (M,K) · W (N,K)ᵀ, the bert-base projections at 32 x 128 tokens.
GEMM_SHAPES = [(4096, 768, 768), (4096, 3072, 768), (4096, 768, 3072)]


# Both sides' thread pools spin after their last parallel region (libomp and MKL: KMP_BLOCKTIME,
# 200 ms; OpenBLAS: its own timeout) and would take the cores from the side measured next. Every
# measurement starts after this pause, so neither side runs against the other's spinning threads.
SETTLE_SECONDS = 0.4


def settle():
    time.sleep(SETTLE_SECONDS)


def timed_iterations(body, iterations, warmup=1):
    settle()
    for _ in range(warmup):
        body()
    seconds = []
    for _ in range(iterations):
        start = time.perf_counter()
        body()
        seconds.append(time.perf_counter() - start)
    return seconds


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def build():
    for product in ("model-bench", "kernel-bench"):
        subprocess.run(["swift", "build", "--package-path", "Benchmarks", "-c", "release", "--product", product], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)


# MARK: - Model cases

def iterations_for(batch, layers):
    # About the same wall time per round whatever the case: big batches are seconds each.
    return 3 if batch >= 16 and layers >= 12 else 5 if batch >= 16 else 30


def ours_model(case, iterations):
    settle()
    _, config, layers, _, _, _, batch, seq, attentions = case
    command = [str(RELEASE / "model-bench"), "--config", config, "--batch", str(batch), "--seq", str(seq),
               "--threads", str(ARGS.threads), "--iterations", str(iterations), "--warmup", "1", "--json"]
    if attentions:
        command.append("--attentions")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)["sequences_per_second"]["median"]


def random_bert(case, attention="eager"):
    """The case's BertModel with seeded random weights (eval mode), and its input ids and mask."""
    _, _, layers, hidden, heads, intermediate, batch, seq, _ = case
    config = transformers.BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                     intermediate_size=intermediate, attn_implementation=attention)
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, config.vocab_size, (batch, seq))
    return model, ids, torch.ones(batch, seq, dtype=torch.long)


def torch_model(case, attention="eager"):
    attentions = case[8]
    model, ids, mask = random_bert(case, attention)

    def run():
        return model(input_ids=ids, attention_mask=mask, output_attentions=attentions)

    return run


def ort_model(case):
    """ONNX Runtime on the eager model exported once and fused by ORT's BERT optimizer."""
    import tempfile
    import onnxruntime
    from onnxruntime.transformers import optimizer
    hidden, heads = case[3], case[4]
    model, ids, mask = random_bert(case)
    types = torch.zeros_like(ids)

    class Hidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    # The reference first: torch.onnx.export leaves the traced model computing something else (its last hidden
    # state moved by up to 3.9 after an export, with torch 2.13 and transformers 5.24), so a check against the
    # model after the export would fault a correct ONNX Runtime.
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": types.numpy()}
    with torch.no_grad():
        reference = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state.numpy()
    folder = Path(tempfile.mkdtemp(prefix="compare-ort-"))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(Hidden(model), (ids, mask, types), str(folder / "bert.onnx"), input_names=names,
                      output_names=["last_hidden_state"], dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names},
                      opset_version=17, dynamo=False)
    fused = optimizer.optimize_model(str(folder / "bert.onnx"), model_type="bert", num_heads=heads, hidden_size=hidden)
    fused.save_model_to_file(str(folder / "bert-fused.onnx"))
    counts = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = ARGS.threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(str(folder / "bert-fused.onnx"), options, providers=["CPUExecutionProvider"])
    difference = float(np.abs(session.run(None, feeds)[0] - reference).max())
    print(f"  ort: fused operators {counts}; max |ort - eager| on the last hidden state {difference:.2e}",
          file=sys.stderr)
    if difference > 1e-3:
        # A contender that computes something else is not timed: its speed would not be comparable.
        print(f"  ort: left out: its output differs from eager by {difference:.2e} (more than 1e-3)", file=sys.stderr)
        return None

    def run():
        return session.run(None, feeds)

    return run


def compare_models(report):
    rows = []
    wanted = ARGS.contenders.split(",")
    cases = [c for c in MODEL_CASES if not ARGS.cases or c[0] in ARGS.cases.split(",")]
    for case in cases:
        name, batch, layers, attentions = case[0], case[6], case[2], case[8]
        iterations = iterations_for(batch, layers)
        runners = {}
        for contender in wanted:
            if contender == "eager":
                runners["torch eager"] = torch_model(case)
            elif contender == "sdpa" and not attentions:
                runners["torch sdpa"] = torch_model(case, "sdpa")
            elif contender == "ort" and not attentions:
                ort = ort_model(case)
                if ort is not None:
                    runners["onnxruntime"] = ort
        sides = ["ours"] + list(runners)
        speeds = {side: [] for side in sides}
        ratios = {side: [] for side in runners}
        for round_index in range(ARGS.rounds):
            # Every side once per round, the order rotated so that no side always follows the same one.
            order = sides[round_index % len(sides):] + sides[:round_index % len(sides)]
            got = {}
            for side in order:
                if side == "ours":
                    got[side] = ours_model(case, iterations)
                else:
                    got[side] = batch / statistics.median(timed_iterations(runners[side], iterations))
            for side in sides:
                speeds[side].append(got[side])
            for side in runners:
                ratios[side].append(got["ours"] / got[side])
            print(f"  {name}: round {round_index + 1}: " + ", ".join(f"{side} {got[side]:.2f}" for side in order)
                  + " seq/s; ours / " + ", ".join(f"{side} {got['ours'] / got[side]:.2f}" for side in runners),
                  file=sys.stderr)
        runners.clear()
        report["model"].append({"case": name, "seq_per_s": speeds, "ratio": ratios})
        rows.append((name, {side: summary(v) for side, v in speeds.items()}, {side: summary(v) for side, v in ratios.items()}))
    return rows


# MARK: - GEMM cases

def ours_gemm(shape, iterations):
    """Median GFLOP/s of our packed linear on one shape, and the FMA peak kernel-bench measured."""
    settle()
    m, n, k = shape
    command = [str(RELEASE / "kernel-bench"), "--kernel", "linear", "--isa", "best", "--threads", str(ARGS.threads),
               "--shapes", f"{m}x{n}x{k}", "--repeats", str(iterations), "--json"]
    output = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return output["results"][0]["gflops"]["median"], output["peak"][0]["gflops"]["max"]


def reference_gemm(shape, iterations):
    """Median GFLOP/s of numpy (OpenBLAS) and torch (MKL) on x · Wᵀ, as nn.Linear computes it."""
    m, n, k = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    wt = w.T  # a transposed view: sgemm with a transposed B, no copy
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    flops = 2.0 * m * n * k
    numpy_gflops = flops / statistics.median(timed_iterations(lambda: x @ wt, iterations)) / 1e9
    torch_gflops = flops / statistics.median(
        timed_iterations(lambda: torch.nn.functional.linear(tx, tw), iterations)) / 1e9
    return numpy_gflops, torch_gflops


def compare_gemm(report):
    iterations = 7
    per_shape = {shape: {"ours": [], "numpy": [], "torch": [], "ratio": []} for shape in GEMM_SHAPES}
    peaks = []
    for round_index in range(ARGS.rounds):
        for shape in GEMM_SHAPES:
            # Alternate per shape: ours, then the references, or the other way round.
            if round_index % 2 == 0:
                ours, peak = ours_gemm(shape, iterations)
                numpy_gflops, torch_gflops = reference_gemm(shape, iterations)
            else:
                numpy_gflops, torch_gflops = reference_gemm(shape, iterations)
                ours, peak = ours_gemm(shape, iterations)
            peaks.append(peak)
            entry = per_shape[shape]
            entry["ours"].append(ours)
            entry["numpy"].append(numpy_gflops)
            entry["torch"].append(torch_gflops)
            entry["ratio"].append(ours / max(numpy_gflops, torch_gflops))
            print(f"  gemm {'x'.join(map(str, shape))}: round {round_index + 1}: ours {ours:.0f}, numpy "
                  f"{numpy_gflops:.0f}, torch {torch_gflops:.0f} GFLOP/s (peak {peak:.0f})", file=sys.stderr)
    report["gemm"] = [{"shape": list(shape), **values} for shape, values in per_shape.items()]
    report["measured_peak_gflops"] = peaks
    return per_shape, peaks


# MARK: - Main

def fmt(s, digits=1):
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def main():
    if not ARGS.no_build:
        build()
    report = {"threads": ARGS.threads, "rounds": ARGS.rounds, "torch": torch.__version__,
              "transformers": transformers.__version__, "numpy": np.__version__, "model": [], "gemm": []}
    print(f"{ARGS.rounds} alternating rounds, {ARGS.threads} threads; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, numpy {np.__version__}", file=sys.stderr)
    if ARGS.only in (None, "gemm"):
        per_shape, peaks = compare_gemm(report)
        print(f"\nGEMM x·Wᵀ, GFLOP/s, median [min-max] over {ARGS.rounds} rounds "
              f"(measured FMA peak {fmt(summary(peaks), 0)}); ratio = ours / max(numpy, torch) per round")
        print(f"{'shape (M x N x K)':<20} {'ours':>18} {'numpy (OpenBLAS)':>18} {'torch (MKL)':>18} {'ratio':>18}")
        for shape, values in per_shape.items():
            print(f"{'x'.join(map(str, shape)):<20} {fmt(summary(values['ours']), 0):>18} "
                  f"{fmt(summary(values['numpy']), 0):>18} {fmt(summary(values['torch']), 0):>18} "
                  f"{fmt(summary(values['ratio']), 2):>18}")
    if ARGS.only in (None, "model"):
        rows = compare_models(report)
        print(f"\nForward pass, sequences/s, median [min-max] over {ARGS.rounds} rounds; ratio = ours / contender "
              f"per round (> 1: ours faster)")
        for name, speeds, ratios in rows:
            print(f"{name}")
            print(f"  {'ours':<16} {fmt(speeds['ours'], 2):>24}")
            for side, ratio in ratios.items():
                print(f"  {side:<16} {fmt(speeds[side], 2):>24}   ratio {fmt(ratio, 2)}")
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

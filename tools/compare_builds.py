#!/usr/bin/env python3
"""Same-run speed comparison of two Bertology builds (a benchmark, not a test): is a change free?

Runs each job from build A and build B alternately, R rounds (A then B in odd rounds, B then A in even
ones, so neither side always runs on a warmer machine), and prints per job the median and min-max wall
time of each side and of the per-round ratio B/A. The load average is printed before and after: the
numbers mean something only on a quiet machine.

Jobs (both sides run the same command lines):
  model-bench   `model-bench --config CONFIG --batch 32 --seq 128 --json` (seq/s, reported by the binary)
  ablate        `bertology ablate` of the default model on STS-B dev (`--limit N`), uniform, every head
                and layer: the main job's sweep, wall time of the whole process

    swift build -c release && swift build --package-path Benchmarks -c release   # in both checkouts
    python3 tools/compare_builds.py BASE_CHECKOUT NEW_CHECKOUT [--rounds 5] [--limit 400]
                                    [--configs minilm-l6,bert-base] [--data GLUE_DIR]

Standard library only.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def model_bench(checkout, config):
    # The benchmarks' own package (Benchmarks/); a checkout from before it had model-bench in the root's.
    binary = os.path.join(checkout, "Benchmarks/.build/release/model-bench")
    if not os.path.exists(binary):
        binary = os.path.join(checkout, ".build/release/model-bench")
    out = subprocess.run([binary, "--config", config, "--batch", "32",
                          "--seq", "128", "--json"], capture_output=True, text=True, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def ablate(checkout, model, data, limit, scratch):
    out = os.path.join(scratch, "ablate")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([os.path.join(checkout, ".build/release/bertology"), "ablate", "--model", model, "--task", "STS-B",
                    "--data", data, "--limit", str(limit), "--mode", "uniform", "--out", out, "--json"],
                   capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, open(os.path.join(out, "ablation.json"), "rb").read()


def summary(name, a, b, higher_is_better):
    ratios = [y / x for x, y in zip(a, b)]
    better = "higher" if higher_is_better else "lower"
    print(f"{name}: A median {statistics.median(a):.3f} (min {min(a):.3f}, max {max(a):.3f}); "
          f"B median {statistics.median(b):.3f} (min {min(b):.3f}, max {max(b):.3f}); "
          f"B/A per round median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}; {better} is better)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--configs", default="minilm-l6,bert-base")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--model", default=os.path.join(root, "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "glue"))
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "2"
    print(f"load before: {load()}")
    scratch = tempfile.mkdtemp(prefix="compare-builds-")
    try:
        for config in args.configs.split(","):
            a, b = [], []
            for round in range(args.rounds):
                order = [(args.base, a), (args.new, b)] if round % 2 == 0 else [(args.new, b), (args.base, a)]
                for checkout, into in order:
                    report = model_bench(checkout, config)
                    into.append((report.get("sequencesPerSecond") or report["sequences_per_second"])["median"])
            summary(f"model-bench {config} b32 s128 seq/s", a, b, True)
        a, b, outputs = [], [], set()
        for round in range(args.rounds):
            order = [(args.base, a), (args.new, b)] if round % 2 == 0 else [(args.new, b), (args.base, a)]
            for checkout, into in order:
                seconds, report = ablate(checkout, args.model, args.data, args.limit, scratch)
                into.append(seconds)
                outputs.add(report)
        summary(f"ablate STS-B dev --limit {args.limit}, 79 ablations, s", a, b, False)
        print(f"ablation.json identical on both sides and every round: {len(outputs) == 1}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load after: {load()}")


if __name__ == "__main__":
    sys.exit(main())

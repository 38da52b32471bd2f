#!/usr/bin/env python3
"""The dropout generator of CKernels (ck_dropout_mask, ckernels.h) in plain Python integer arithmetic.

Developer machines only; CI never runs this. Run from the repository root: writes
Tests/BertologyTests/Fixtures/training/dropout_masks.json, a few masks (seed, stream, offset, n, p) as strings of
'1' (kept) and '0' (dropped), and the raw 32-bit values of their first elements. The Swift tests compare the
kernel's masks on every instruction set and thread count against these. training_kernel_reference.py imports
`keep_mask` to give PyTorch our masks.

    mix(z)  = splitmix64's finaliser, mod 2^64
    key     = mix(seed ^ mix(stream + 0x9E3779B97F4A7C15))
    bits(i) = mix(key + (offset + i + 1) * 0x9E3779B97F4A7C15) >> 32
    keep(i) = bits(i) >= floor(p * 2^32)      (p the float32 value, widened to double)
"""

import json
from pathlib import Path

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
OUT = Path("Tests/BertologyTests/Fixtures/training/dropout_masks.json")


def mix(z):
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def key_of(seed, stream):
    return mix(seed ^ mix(stream + GOLDEN))


def bits(key, index):
    return mix(key + (index + 1) * GOLDEN) >> 32


def threshold(p):
    p = float(np.float32(p))  # the kernel receives a float
    if not p > 0:
        return 0
    if p >= 1:
        return 1 << 32
    return int(p * 4294967296.0)  # floor for positive values, exact in double


def keep_mask(n, p, seed, stream, offset=0):
    """A list of n booleans: True where element offset + i is kept."""
    key, t = key_of(seed, stream), threshold(p)
    return [bits(key, offset + i) >= t for i in range(n)]


def scale(p):
    """What a kept value is multiplied by: 1.0f / (float)(1.0 - p)."""
    p = float(np.float32(p))
    return float(np.float32(1.0) / np.float32(1.0 - p))


CASES = [
    # (seed, stream, offset, n, p)
    (42, 0, 0, 257, 0.1),
    (42, 1, 0, 131, 0.1),
    (7, 3, 1000003, 67, 0.5),
    (0, 0, 0, 33, 0.9),
    (2**64 - 1, 2**63 + 5, 2**40, 17, 0.25),
]


def main():
    cases = []
    for seed, stream, offset, n, p in CASES:
        key = key_of(seed, stream)
        mask = keep_mask(n, p, seed, stream, offset)
        cases.append({
            "seed": str(seed), "stream": str(stream), "offset": str(offset), "n": n, "p": p,
            "bits": [bits(key, offset + i) for i in range(8)],
            "mask": "".join("1" if k else "0" for k in mask),
            "scale": scale(p),
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": "ckernels dropout (splitmix64 finaliser)", "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

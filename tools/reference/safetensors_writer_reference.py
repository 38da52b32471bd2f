"""The safetensors writer against the real one.

    python tools/reference/safetensors_writer_reference.py            # writes the fixture
    python tools/reference/safetensors_writer_reference.py FILE...    # loads files Bertology wrote

Without arguments: writes Tests/BertologyTests/Fixtures/reference/safetensors-writer/torch.safetensors with
`safetensors.torch.save_file` from tensors whose values are set by formula (SafeTensorsWriterTests builds
the same tensors and must write the same bytes).
With files: loads each with `safetensors.torch.load_file` and with transformers'
`BertForSequenceClassification.from_pretrained` when it sits in a checkpoint folder (config.json
beside it), and prints the tensors' names, shapes and a checksum.
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "Tests/BertologyTests/Fixtures/reference/safetensors-writer/torch.safetensors")


def formula(shape, scale):
    """Values i * scale - 1 (i the row-major index), as float32: exact in both languages."""
    n = 1
    for d in shape:
        n *= d
    return (torch.arange(n, dtype=torch.float32) * scale - 1).reshape(shape)


def reference_tensors():
    # Names out of order on purpose (the file is sorted by name); odd shapes; a scalar-like [1]; a name
    # that needs JSON escaping.
    return {
        "classifier.weight": formula([3, 5], 0.25),
        "bert.embeddings.word_embeddings.weight": formula([7, 5], 0.5),
        "classifier.bias": formula([3], 1.0),
        "a/b \"quoted\"": formula([1], 2.0),
        "bert.pooler.dense.weight": formula([5, 5], -0.125),
    }


def main():
    if len(sys.argv) == 1:
        os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
        save_file(reference_tensors(), FIXTURE, metadata={"format": "pt"})
        print("wrote", FIXTURE)
        return
    for path in sys.argv[1:]:
        tensors = load_file(path)
        for name in sorted(tensors):
            t = tensors[name]
            print(f"{path}: {name} {list(t.shape)} {t.dtype} sum={float(t.double().sum()):.6f}")
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.exists(os.path.join(folder, "config.json")):
            from transformers import BertForSequenceClassification
            model = BertForSequenceClassification.from_pretrained(folder)
            state = model.state_dict()
            missing = [k for k in state if k not in tensors and "position_ids" not in k]
            print(f"{folder}: transformers loaded BertForSequenceClassification, num_labels={model.config.num_labels}, "
                  f"problem_type={model.config.problem_type}, tensors not in the file: {missing}")


if __name__ == "__main__":
    main()

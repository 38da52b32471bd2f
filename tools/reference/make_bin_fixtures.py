#!/usr/bin/env python3
"""Reference fixtures for the pytorch_model.bin reader (developer machines only; CI never runs this).

Writes Tests/BertologyTests/Fixtures/bin/:
  classifier/   a tiny seeded transformers BertForSequenceClassification with odd sizes (hidden 15, 3 heads,
                intermediate 22, 2 layers, 37 tokens, 3 labels): config.json, vocab.txt, and its state dict saved
                by torch.save in both formats torch writes, in F32 and F16:
                  zip-f32.bin, zip-f16.bin        the zip format (torch >= 1.6, the default)
                  legacy-f32.bin, legacy-f16.bin  the legacy format (_use_new_zipfile_serialization=False)
                  f32.safetensors, f16.safetensors  the same tensors, written by the safetensors library
                In every .bin the query, key and value weights of layer 0 are row slices of one (3C, C) tensor,
                so they share one storage at offsets 0, C*C and 2*C*C (as a fused checkpoint would).
  pretraining/  a tiny BertForPreTraining state dict as the checkpoints of 2018-2019 were saved: legacy format,
                LayerNorm weights named gamma/beta, the MLM decoder tied to the word embeddings (one storage,
                two names), an I64 embeddings.position_ids: legacy.bin, and the same tensors as model.safetensors.
  refused/      small .bin files the reader must refuse: a transposed (non-contiguous) tensor, and pickles
                that would run code if Python's pickle loaded them (GLOBAL os.system with REDUCE,
                builtins.eval, REDUCE on a storage type, INST, OBJ), in the zip and the legacy framing. Never load these with torch.load.

Deterministic: fixed seeds; torch.save's zip records are byte-identical between runs, the legacy format's storage
keys are memory addresses (so legacy files differ between runs; the tensors do not).
Usage (from the repository root): .venv/bin/python tools/reference/make_bin_fixtures.py
"""

import io
import json
import shutil
import struct
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForPreTraining, BertForSequenceClassification

OUT = Path("Tests/BertologyTests/Fixtures/bin")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "the", "a", "man", "woman", "plays", "play",
         "guitar", "music", "is", "are", "dog", "cat", "runs", "run", "in", "park", "on", "street", "red",
         "blue", "small", "big", "##s", "##ing", "##ed", "##er", "##ly", "##y", "song", "sings"]
assert len(VOCAB) == 37 and len(set(VOCAB)) == 37


def write_common(folder, config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("".join(token + "\n" for token in VOCAB), encoding="utf-8")
    config.to_json_file(folder / "config.json")


def perturb_(model, seed):
    """Non-trivial LayerNorm weights and biases (initialisation gives 1 and 0), so a swap would show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))


def fused_qkv(state, prefix):
    """Layer 0's query, key and value weights replaced by row slices of one tensor (shared storage, offsets)."""
    names = [f"{prefix}encoder.layer.0.attention.self.{part}.weight" for part in ("query", "key", "value")]
    fused = torch.cat([state[name] for name in names], dim=0).contiguous()
    rows = state[names[0]].shape[0]
    for index, name in enumerate(names):
        state[name] = fused[index * rows:(index + 1) * rows]
        assert state[name].is_contiguous() and state[name].storage_offset() == index * rows * fused.shape[1]
    return state


def classifier():
    torch.manual_seed(2025)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=15, num_attention_heads=3, intermediate_size=22,
                        num_hidden_layers=2, max_position_embeddings=23, type_vocab_size=2, num_labels=3,
                        initializer_range=0.2, pad_token_id=0,
                        id2label={0: "contradiction", 1: "entailment", 2: "neutral"},
                        label2id={"contradiction": 0, "entailment": 1, "neutral": 2})
    model = BertForSequenceClassification(config).eval()
    perturb_(model, 7)
    folder = OUT / "classifier"
    write_common(folder, config)
    for dtype, tag in [(torch.float32, "f32"), (torch.float16, "f16")]:
        # model.state_dict() itself: an OrderedDict with its _metadata attribute (pickled with BUILD), as saved.
        state = model.state_dict()
        for name in list(state):
            state[name] = state[name].detach().to(dtype).clone()
        save_file({name: tensor.contiguous() for name, tensor in state.items()}, folder / f"{tag}.safetensors",
                  metadata={"format": "pt"})
        state = fused_qkv(state, "bert.")
        torch.save(state, folder / f"zip-{tag}.bin")
        torch.save(state, folder / f"legacy-{tag}.bin", _use_new_zipfile_serialization=False)


def pretraining():
    torch.manual_seed(2019)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=12, num_attention_heads=2, intermediate_size=17,
                        num_hidden_layers=1, max_position_embeddings=19, type_vocab_size=2,
                        initializer_range=0.2, pad_token_id=0)
    model = BertForPreTraining(config).eval()
    perturb_(model, 8)
    folder = OUT / "pretraining"
    write_common(folder, config)
    state = {}
    for name, tensor in model.state_dict().items():
        old = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[old] = tensor.detach()
    decoder, embeddings = "cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"
    state[decoder] = state[embeddings]  # tied: one storage, two names
    state["bert.embeddings.position_ids"] = torch.arange(config.max_position_embeddings, dtype=torch.int64)[None, :]
    torch.save(state, folder / "legacy.bin", _use_new_zipfile_serialization=False)
    save_file({name: tensor.clone().contiguous() for name, tensor in state.items()}, folder / "model.safetensors",
              metadata={"format": "pt"})


def zip_with(pickle_bytes):
    """A zip-format checkpoint whose data.pkl is `pickle_bytes` (stored records, as torch writes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def legacy_with(pickle_bytes):
    """A legacy-format checkpoint that opens with `pickle_bytes` where the magic number belongs."""
    return pickle_bytes


def unicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


HOSTILE = {
    # os.system("echo owned"): GLOBAL + REDUCE, the classic.
    "global-os-system": b"\x80\x02cos\nsystem\nq\x00" + unicode("echo owned") + b"\x85q\x01Rq\x02.",
    # builtins.eval on a string.
    "reduce-builtins-eval": b"\x80\x02cbuiltins\neval\nq\x00" + unicode("1+1") + b"\x85Rq\x01.",
    # REDUCE on an allowed global that is not a callable of a state dict (a storage type).
    "reduce-storage-type": b"\x80\x02ctorch\nFloatStorage\n)R.",
    # INST: build an instance of os.system with arguments from the stack.
    "inst": b"\x80\x02(" + unicode("echo owned") + b"ios\nsystem\n.",
    # OBJ: MARK, a class (by GLOBAL), arguments, OBJ. The GLOBAL is of an allowed name, so the OBJ opcode is what is refused.
    "obj": b"\x80\x02(ccollections\nOrderedDict\n" + b"o.",
}


def refused():
    folder = OUT / "refused"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4).t()}, folder / "transposed.bin")
    for name, pickle_bytes in HOSTILE.items():
        (folder / f"zip-{name}.bin").write_bytes(zip_with(pickle_bytes))
        (folder / f"legacy-{name}.bin").write_bytes(legacy_with(pickle_bytes))


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    classifier()
    pretraining()
    refused()
    total = 0
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            size = path.stat().st_size
            total += size
            assert size < 200_000, f"{path} is {size} bytes"
    print(f"make_bin_fixtures: wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()

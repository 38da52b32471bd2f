#!/usr/bin/env python3
"""Reference fixtures for Bertology's model tests (developer machines only; CI never runs this).

Writes into Tests/BertologyTests/Fixtures/:
  models/<tiny>/            three tiny seeded BERT checkpoints (config.json, vocab.txt, model.safetensors)
  reference/<model>.json    one manifest per model: inputs (texts, tokens, ids) and the output file names
  reference/<model>/*.npy   float32 outputs of Hugging Face transformers (eager attention, eval mode, float32)

The reference is transformers' own BERT. Head interventions are applied by replacing
transformers.models.bert.modeling_bert.eager_attention_forward (looked up by name at each call) with a copy
that edits the attention probabilities after softmax/dropout and before they multiply V. transformers 5 has
no head_mask, so this is the only place to do it. See tools/reference/README.md and
Tests/BertologyTests/Fixtures/reference/README.md.

Deterministic: fixed seeds, one torch thread; running it twice gives byte-identical files.
Usage (from the repository root):
    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/reference/make_model_fixtures.py [--glue-dir DIR] [--default-model DIR]
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

# The intervention hook is shared with eval_reference.py (this folder is on sys.path when a script here runs).
import interventions
from interventions import AttentionState, intervention, mean_pooling, mixed, plan_from_intervention

GENERATOR = "tools/reference/make_model_fixtures.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
DEFAULT_MODEL_DIR = Path("models/all-MiniLM-L6-v2")

# Tolerances of the sanity checks. Float32 sums of <= 128 probabilities stay within ~1e-6 of 1. A padded batch
# and the same rows run alone use different matrix shapes, so BLAS may sum in a different order: the rows must
# agree to 1e-5, relative to max(1, max |value|) (MiniLM hidden states reach about 6).
ROW_SUM_TOLERANCE = 1e-5
PADDED_VS_ALONE_TOLERANCE = 1e-5


# MARK: - Tiny vocabulary

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCTUATION = [".", ",", "!", "?", "'", '"', "-", "(", ")", ":", ";"]
WORDS = """
the a an is are was were be of and or but not to in on at with for from by it this that he she they we his her
man woman child children dog cat bird horse car house tree river city book song guitar music water food day
night people play run walk eat read sing ride jump sleep look like love small big young old red blue green happy
sad fast slow good new quick street park game ball boy girl two three under over near very un sun foot
""".split()
PIECES = """
##s ##es ##ed ##ing ##er ##ers ##ly ##est ##y ##ness ##ful ##less ##able ##ment ##al ##ish ##n ##t ##r ##d
##e ##a ##o ##i ##happy ##ball ##house ##light ##day ##time
""".split()


def tiny_vocabulary():
    vocab = SPECIAL_TOKENS + PUNCTUATION + WORDS + PIECES
    assert len(set(vocab)) == len(vocab), "duplicate vocabulary entry"
    return vocab


# MARK: - Tiny models

TINY_MODELS = {
    "tiny-classifier": dict(
        seed=1001, kind="classifier", storage=torch.float32,
        config=dict(hidden_size=36, num_attention_heads=3, intermediate_size=50, num_hidden_layers=2,
                    max_position_embeddings=40, type_vocab_size=2, num_labels=3,
                    id2label={0: "contradiction", 1: "entailment", 2: "neutral"},
                    label2id={"contradiction": 0, "entailment": 1, "neutral": 2}),
    ),
    "tiny-regression": dict(
        seed=1002, kind="classifier", storage=torch.float16,
        # layer_norm_eps differs from the default on purpose: the engine must read it from config.json.
        config=dict(hidden_size=30, num_attention_heads=5, intermediate_size=47, num_hidden_layers=3,
                    max_position_embeddings=29, type_vocab_size=2, num_labels=1, problem_type="regression",
                    layer_norm_eps=1e-5),
    ),
    "tiny-encoder-bf16": dict(
        seed=1003, kind="encoder", storage=torch.bfloat16,
        config=dict(hidden_size=20, num_attention_heads=4, intermediate_size=33, num_hidden_layers=2,
                    max_position_embeddings=32, type_vocab_size=2),
    ),
}


def perturb_(model, seed):
    """Move LayerNorm weights and every bias away from their 1 / 0 init so those code paths are tested,
    and give the [PAD] embedding row a value (real checkpoints have one)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * 0.1
            if name.endswith("LayerNorm.weight"):
                parameter.copy_(1.0 + noise)
            elif name.endswith(".bias"):
                parameter.copy_(noise)
        word_embeddings = model.get_input_embeddings().weight
        word_embeddings[0].copy_(torch.randn(word_embeddings.shape[1], generator=generator) * 0.2)


def build_tiny_model(name, spec, out_dir):
    vocab = tiny_vocabulary()
    torch.manual_seed(spec["seed"])
    config = BertConfig(vocab_size=len(vocab), initializer_range=0.2, pad_token_id=0, **spec["config"])
    if spec["kind"] == "classifier":
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config, add_pooling_layer=True)
    model.eval()
    perturb_(model, spec["seed"] + 7)

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / "vocab.txt").write_text("".join(token + "\n" for token in vocab), encoding="utf-8")
    model.to(spec["storage"]).save_pretrained(out_dir)

    weights_path = out_dir / "model.safetensors"
    if name == "tiny-encoder-bf16":
        # transformers 5 keeps position_ids as a non-persistent buffer and does not save it; real checkpoints
        # (all-MiniLM-L6-v2, bert-base-uncased) carry it as I64 [1, max_position_embeddings], so add it.
        tensors = load_file(weights_path)
        tensors["embeddings.position_ids"] = torch.arange(config.max_position_embeddings,
                                                          dtype=torch.int64).unsqueeze(0)
        save_file(tensors, weights_path, metadata={"format": "pt"})
        (out_dir / "tokenizer_config.json").write_text(
            json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, indent=2) + "\n")

    expected_dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[spec["storage"]]
    with safe_open(weights_path, "pt") as f:
        names = list(f.keys())
        for key in names:
            dtype = f.get_slice(key).get_dtype()
            assert dtype == ("I64" if key.endswith("position_ids") else expected_dtype), (key, dtype)
    has_prefix = any(key.startswith("bert.") for key in names)
    assert has_prefix == (spec["kind"] == "classifier"), f"{name}: unexpected tensor name prefix"
    return out_dir


# MARK: - Loading the reference

def load_reference_model(model_dir, kind):
    cls = BertForSequenceClassification if kind == "classifier" else BertModel
    # dtype=float32: F16/BF16 files are upcast exactly, so the reference runs on the stored values.
    model, info = cls.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32,
                                      output_loading_info=True)
    model.eval()
    assert model.config._attn_implementation == "eager"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # The model's weights are exactly the stored ones, upcast.
    stored = load_file(Path(model_dir) / "model.safetensors")
    state = model.state_dict()
    for key, value in stored.items():
        if key.endswith("position_ids"):
            continue
        assert torch.equal(state[key], value.to(torch.float32)), key
    return model


# MARK: - Running one batch

def run_batch(model, kind, input_ids, token_type_ids, lengths, plan):
    batch, length = input_ids.shape
    attention_mask = (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).long()
    interventions.set_batch(plan, attention_mask)
    base = model.bert if kind == "classifier" else model
    captured = {}
    hook = base.register_forward_hook(lambda module, args, output: captured.setdefault("base", output))
    try:
        with torch.no_grad():
            output = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           output_attentions=True)
    finally:
        hook.remove()
    base_output = captured["base"]
    layers = [layer for layer, _ in AttentionState.returned]
    assert layers == list(range(model.config.num_hidden_layers)), f"layer_idx order {layers}"
    attentions = torch.stack(output.attentions)                                    # (L, B, NH, T, T)
    for (_, used), reported in zip(AttentionState.returned, output.attentions):
        assert used is reported or torch.equal(used, reported), "reported attentions are not those used"
    result = {
        "last_hidden_state": base_output.last_hidden_state,
        "attentions": attentions,
    }
    if base_output.pooler_output is not None:
        result["pooler_output"] = base_output.pooler_output
    if kind == "classifier":
        result["logits"] = output.logits
    result["sentence_embedding"] = mean_pooling(base_output.last_hidden_state, attention_mask)
    return {k: v.detach().to(torch.float32).contiguous() for k, v in result.items()}


def check_row_sums(attentions, lengths, plan):
    """Rows sum to 1 (kept, uniform) or 0 (zero), padding query rows included; padded keys get exactly 0."""
    num_layers, batch, num_heads, length, _ = attentions.shape
    worst = 0.0
    for layer in range(num_layers):
        for head in range(num_heads):
            expected = 0.0 if plan.get(layer, {}).get(head) == "zero" else 1.0
            sums = attentions[layer, :, head].double().sum(dim=-1)
            worst = max(worst, float((sums - expected).abs().max()))
            for row, real in enumerate(lengths):
                padding_keys = attentions[layer, row, head, :, real:]
                assert padding_keys.numel() == 0 or float(padding_keys.abs().max()) == 0.0, \
                    "padding key with nonzero weight"
    assert worst < ROW_SUM_TOLERANCE, worst
    return worst


def padded_vs_alone(model, kind, input_ids, token_type_ids, lengths, plan, outputs):
    """Max |difference| per output between each padded row and the same tokens run alone (real positions)."""
    worst = {}
    for row, real in enumerate(lengths):
        alone = run_batch(model, kind, input_ids[row:row + 1, :real], token_type_ids[row:row + 1, :real],
                          [real], plan)
        pairs = {
            "last_hidden_state": (outputs["last_hidden_state"][row, :real], alone["last_hidden_state"][0]),
            "attentions": (outputs["attentions"][:, row, :, :real, :real], alone["attentions"][:, 0]),
            "sentence_embedding": (outputs["sentence_embedding"][row], alone["sentence_embedding"][0]),
        }
        for key in ("pooler_output", "logits"):
            if key in outputs:
                pairs[key] = (outputs[key][row], alone[key][0])
        for key, (padded, single) in pairs.items():
            difference = float((padded - single).abs().max())
            # Absolute for values of order 1, relative for larger ones (MiniLM hidden states reach ~6).
            scale = max(1.0, float(single.abs().max()))
            assert difference < PADDED_VS_ALONE_TOLERANCE * scale, (key, difference, scale)
            worst[key] = max(worst.get(key, 0.0), difference)
    return worst


# MARK: - Cases

def encode_case(tokenizer, texts, max_length):
    rows = []
    for first, second in texts:
        kwargs = {"truncation": "longest_first", "max_length": max_length} if max_length else {}
        encoded = tokenizer(first, second, **kwargs) if second is not None else tokenizer(first, **kwargs)
        rows.append(encoded)
    lengths = [len(r["input_ids"]) for r in rows]
    length = max(lengths)
    input_ids = [r["input_ids"] + [0] * (length - len(r["input_ids"])) for r in rows]
    token_type_ids = [r["token_type_ids"] + [0] * (length - len(r["token_type_ids"])) for r in rows]
    # The tokenizer's own batch padding must agree with the manual padding above.
    firsts = [t[0] for t in texts]
    seconds = [t[1] for t in texts]
    if all(s is None for s in seconds):
        batch = tokenizer(firsts, padding=True, **({"truncation": "longest_first", "max_length": max_length}
                                                   if max_length else {}))
    elif all(s is not None for s in seconds):
        batch = tokenizer(firsts, seconds, padding=True, **({"truncation": "longest_first",
                                                             "max_length": max_length} if max_length else {}))
    else:
        batch = None
    if batch is not None:
        assert batch["input_ids"] == input_ids and batch["token_type_ids"] == token_type_ids
    tokens = [tokenizer.convert_ids_to_tokens(r["input_ids"]) for r in rows]
    return tokens, input_ids, token_type_ids, lengths


def tiny_cases(name, config):
    """Each case is one batch: (name, texts, max_length, intervention)."""
    nl, nh = config.num_hidden_layers, config.num_attention_heads
    max_pos = config.max_position_embeddings
    long_text = ("The young boy and the old man walked from the city to the river with two dogs, and they "
                 "played ball under the big green tree near the house until the night was very dark and the "
                 "birds did not sing. She reads a good book about music and people.")
    single_1 = ("The young man is playing the guitar.", None)
    single_2 = ("Dogs run!", None)
    single_3 = ("A HAPPY girl, unhappy boy; the Café's sunlight (daytime)?", None)
    single_4 = ("She reads a book near the river 猫 xylophone.", None)
    pair_1 = ("A woman is riding a horse.", "A man rides a red horse in the park.")
    padded = [
        ("Two children are playing football.", None),
        ("The cat sleeps under the tree.", "A cat is sleeping."),
        ("Birds sing.", None),
        ("He walks his dog at night.", "They walked the dogs."),
    ]
    truncated = [
        ("The quick red car was very fast on the new street near the park.", "It was slow."),
        ("The old woman and the young girl read a good book about music and people.", None),
    ]
    long_and_short = [(long_text, None), single_2, ("A cat.", "A dog.")]

    heads = {
        "tiny-classifier": dict(zero=[(0, 1), (1, 2)], uniform=[(0, 0), (1, 1)], uniform_layer=1, zero_layer=0,
                                mix_zero=[(1, 0), (1, 2)], mix_uniform_layer=0),
        "tiny-regression": dict(zero=[(0, 4), (2, 1)], uniform=[(1, 3), (2, 0)], uniform_layer=2, zero_layer=1,
                                mix_zero=[(0, 2), (2, 4)], mix_uniform_layer=1),
        "tiny-encoder-bf16": dict(zero=[(0, 3), (1, 0)], uniform=[(0, 1), (1, 2)], uniform_layer=0,
                                  zero_layer=1, mix_zero=[(0, 0), (0, 2)], mix_uniform_layer=1),
    }[name]
    zero_heads = intervention("zero", heads=heads["zero"])
    uniform_heads = intervention("uniform", heads=heads["uniform"])
    uniform_layer = intervention("uniform", layers=[heads["uniform_layer"]])
    zero_layer = intervention("zero", layers=[heads["zero_layer"]])
    mix = mixed(intervention("zero", heads=heads["mix_zero"]),
                intervention("uniform", layers=[heads["mix_uniform_layer"]]))
    u, z, m = heads["uniform_layer"] + 1, heads["zero_layer"] + 1, heads["mix_uniform_layer"] + 1
    cases = [
        ("single-playing-guitar", [single_1], None, None),
        ("single-short", [single_2], None, None),
        ("single-case-accents-pieces", [single_3], None, None),
        ("single-unknown-chars", [single_4], None, None),
        ("pair", [pair_1], None, None),
        ("padded-mixed-4", padded, None, None),
        ("truncated-longest-first-14", truncated, 14, None),
        (f"padded-one-full-length-{max_pos}", long_and_short, max_pos, None),
        ("pair-zero-2-heads", [pair_1], None, zero_heads),
        ("padded-uniform-2-heads", padded, None, uniform_heads),
        (f"padded-uniform-L{u}", padded, None, uniform_layer),
        (f"single-zero-L{z}", [single_3], None, zero_layer),
        (f"padded-mixed-zero-2-heads-uniform-L{m}", padded, None, mix),
        (f"full-length-mixed-zero-2-heads-uniform-L{m}", long_and_short, max_pos, mix),
    ]
    assert all(0 <= l < nl for l in (heads["uniform_layer"], heads["zero_layer"], heads["mix_uniform_layer"]))
    assert all(0 <= h < nh for pairs in (heads["zero"], heads["uniform"], heads["mix_zero"]) for _, h in pairs)
    return cases


# Hand-written English sentences (for the default model) and a few STS-B dev pairs (row index in dev.tsv).
DEFAULT_SINGLES = [
    ("single-cat-mat", "The cat sat on the mat."),
    ("single-hello", "Hello"),
    ("single-separator", "Attention heads in the middle layers often look at the separator token."),
    ("single-december", "I can't believe it's already December!"),
    ("single-glue", "Researchers fine-tuned BERT on nine GLUE tasks."),
    ("single-seashells", "She sells seashells by the seashore."),
    ("single-fox", "The quick brown fox jumps over the lazy dog."),
    ("single-question", "Is this the real life, or is this just fantasy?"),
    ("single-accents", "Naïve café owners in Zürich serve crème brûlée."),
    ("single-numbers", "Prices rose 3.5% in 2019, according to the report."),
    ("single-chickens", "Don't count your chickens before they hatch."),
    ("single-email", "Unbelievably, the well-known address was user@example.com."),
    ("single-cjk", "东京 is the capital of Japan."),
    ("single-committee", "The committee postponed the decision until next spring."),
    ("single-wordpieces", "Words like 'tokenization' and 'unaffable' split into pieces."),
    ("single-upper", "WHY ARE YOU SHOUTING?"),
]
DEFAULT_LONG = ("single-long-paragraph",
                "In the summer of 2019, a group of researchers asked a simple question about the models everyone "
                "was using: what do the attention heads of BERT actually do once the model has been fine-tuned? "
                "They looked at every head in every layer, sorted the attention maps into a handful of patterns, "
                "and found that many heads repeat the same vertical pattern, attending mostly to the special "
                "tokens. Then they switched heads off one at a time, and sometimes whole layers, and measured the "
                "scores again. Surprisingly, several models did better without some of their heads, which "
                "suggests that the network is heavily overparameterized.")
DEFAULT_PAIRS = [
    ("pair-piano", "How do I learn to play the piano?", "What is the best way to learn piano?"),
    ("pair-profits", "The company reported higher profits this quarter.", "Profits at the firm fell sharply."),
    ("pair-tomato", "A man is slicing a tomato.", "Nobody is cutting anything."),
    ("pair-heads", "Kovaleva et al. studied BERT's heads.", "The paper disables heads one at a time."),
]
STSB_SINGLE_CASE_ROWS = [0, 139, 1264, 1435]
STSB_INTERVENTION_ROWS = [41, 391, 1284, 1377]


def read_stsb_pairs(glue_dir, rows):
    path = Path(glue_dir) / "STS-B" / "dev.tsv"
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    i1, i2 = header.index("sentence1"), header.index("sentence2")
    pairs = []
    for row in rows:
        fields = lines[1 + row].split("\t")   # split on TAB, no CSV quoting (see the GLUE README)
        assert fields[0] == str(row), (row, fields[0])
        pairs.append((fields[i1], fields[i2]))
    return pairs


def default_cases(glue_dir):
    cases = [(name, [(text, None)], None, None) for name, text in DEFAULT_SINGLES]
    cases.append((DEFAULT_LONG[0], [(DEFAULT_LONG[1], None)], None, None))
    cases += [(name, [(a, b)], None, None) for name, a, b in DEFAULT_PAIRS]
    for row, pair in zip(STSB_SINGLE_CASE_ROWS, read_stsb_pairs(glue_dir, STSB_SINGLE_CASE_ROWS)):
        cases.append((f"pair-stsb-dev-{row}", [pair], None, None))
    padded_6 = [
        ("The cat sat on the mat.", None),
        ("A cat.", "A dog sleeps."),
        ("Hello", None),
        ("Is this the real life?", "Is this just fantasy?"),
        ("Prices rose 3.5% in 2019.", None),
        ("Birds sing.", None),
    ]
    cases.append(("padded-6", padded_6, None, None))
    pairs_4 = [(a, b) for a, b in read_stsb_pairs(glue_dir, STSB_INTERVENTION_ROWS)]
    cases += [
        ("padded-pairs-4", pairs_4, None, None),
        ("padded-pairs-4-zero-L1-H1-L4-H7", pairs_4, None, intervention("zero", heads=[(0, 0), (3, 6)])),
        ("padded-pairs-4-uniform-L2-H12-L4-H1", pairs_4, None, intervention("uniform", heads=[(1, 11), (3, 0)])),
        ("padded-pairs-4-uniform-L1", pairs_4, None, intervention("uniform", layers=[0])),
        ("padded-pairs-4-uniform-L6", pairs_4, None, intervention("uniform", layers=[5])),
    ]
    sources = {f"pair-stsb-dev-{row}": f"GLUE STS-B dev.tsv row {row}" for row in STSB_SINGLE_CASE_ROWS}
    sources.update({name: "GLUE STS-B dev.tsv rows " + ", ".join(map(str, STSB_INTERVENTION_ROWS))
                    for name, *_ in cases if name.startswith("padded-pairs-4")})
    return cases, sources


# Attention maps of the default model are 6 x 12 x T x T float32 (288 T^2 bytes per row): the long case
# (124 tokens) alone would need 4.4 MB. To keep the committed fixtures near 6 MB, the default model's attentions
# are stored only for batches of at most 20 tokens (all padded and intervention batches, most single cases);
# the other cases still store last_hidden_state, pooler_output and sentence_embedding.
DEFAULT_MAX_STORED_ATTENTION_TOKENS = 20


# MARK: - Writing

def to_json(value, indent=0):
    """JSON with lists of numbers/strings on one line, everything else indented (small, diffable manifests)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad}  {json.dumps(k, ensure_ascii=False)}: {to_json(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value) or \
                all(isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v) for v in value) and \
                len(json.dumps(value, ensure_ascii=False)) < 100:
            return json.dumps(value, ensure_ascii=False)
        items = [f"{pad}  {to_json(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def make_manifest(model_name, model_dir, kind, cases, tokenizer, sources=None, max_attention_tokens=None):
    model = load_reference_model(model_dir, kind)
    config = model.config
    out_dir = FIXTURES / "reference" / model_name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    manifest_cases = []
    report = {}
    for case_name, texts, max_length, case_intervention in cases:
        tokens, input_ids, token_type_ids, lengths = encode_case(tokenizer, texts, max_length)
        ids = torch.tensor(input_ids)
        types = torch.tensor(token_type_ids)
        plan = plan_from_intervention(case_intervention, config.num_hidden_layers, config.num_attention_heads)
        outputs = run_batch(model, kind, ids, types, lengths, plan)
        row_sum_error = check_row_sums(outputs["attentions"], lengths, plan)
        alone_diff = padded_vs_alone(model, kind, ids, types, lengths, plan, outputs) if len(lengths) > 1 else None

        # sentence_embedding is the sentence-transformers mean over real tokens; check it in float64 too.
        hidden = outputs["last_hidden_state"].double().numpy()
        for row, real in enumerate(lengths):
            assert np.abs(hidden[row, :real].mean(axis=0) - outputs["sentence_embedding"][row].double().numpy()
                          ).max() < 1e-6
        if plan == {}:
            # With no intervention the patched attention must be bit-identical to transformers' own.
            interventions.uninstall()
            try:
                with torch.no_grad():
                    attention_mask = (torch.arange(ids.shape[1])[None, :] < torch.tensor(lengths)[:, None]).long()
                    plain = model(input_ids=ids, attention_mask=attention_mask, token_type_ids=types,
                                  output_attentions=True)
            finally:
                interventions.install()
            assert torch.equal(torch.stack(plain.attentions), outputs["attentions"])
            if kind == "classifier":
                assert torch.equal(plain.logits, outputs["logits"])
            else:
                assert torch.equal(plain.last_hidden_state, outputs["last_hidden_state"])

        files = {}
        for key in ("last_hidden_state", "attentions", "pooler_output", "logits", "sentence_embedding"):
            if key not in outputs:
                continue
            if key == "attentions" and max_attention_tokens and max(lengths) > max_attention_tokens:
                continue
            file_name = f"{case_name}.{key}.npy"
            np.save(out_dir / file_name, outputs[key].numpy().astype(np.float32), allow_pickle=False)
            files[key] = file_name
        entry = {
            "name": case_name,
            "texts": [[a, b] for a, b in texts],
            "tokens": tokens,
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "lengths": lengths,
            "intervention": case_intervention,
            "outputs": files,
            "truncation": {"strategy": "longest_first", "max_length": max_length} if max_length else None,
            "sanity": {
                "max_abs_attention_row_sum_error": row_sum_error,
                "max_abs_diff_padded_vs_alone": alone_diff,
            },
        }
        if "attentions" not in files:
            entry["attentions_not_stored"] = (f"{max(lengths)} tokens: the attention maps would take "
                                              f"{outputs['attentions'].numel() * 4} bytes")
        if sources and case_name in sources:
            entry["source"] = sources[case_name]
        manifest_cases.append(entry)
        report[case_name] = (max(lengths), len(lengths), row_sum_error,
                             None if alone_diff is None else max(alone_diff.values()), alone_diff)

    manifest = {
        "model": model_name,
        "model_dir": str(model_dir),
        "generator": GENERATOR,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "model_class": type(model).__name__,
        "conventions": ("layers and heads are 0-based in arrays and interventions; attentions are "
                        "(layers, batch, heads, query, key) after the intervention; sentence_embedding is the "
                        "mean of last_hidden_state over real tokens (no normalisation)"),
        "cases": manifest_cases,
    }
    (FIXTURES / "reference" / f"{model_name}.json").write_text(to_json(manifest) + "\n", encoding="utf-8")
    return report


# MARK: - Main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--default-model", default=str(DEFAULT_MODEL_DIR))
    args = parser.parse_args()
    if not (Path("Package.swift").exists() and FIXTURES.parent.exists()):
        sys.exit("run from the repository root")

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    interventions.install()

    (FIXTURES / "reference").mkdir(parents=True, exist_ok=True)
    reports = {}
    for name, spec in TINY_MODELS.items():
        model_dir = build_tiny_model(name, spec, FIXTURES / "models" / name)
        tokenizer = BertTokenizer(vocab=dict((t, i) for i, t in enumerate(tiny_vocabulary())), do_lower_case=True)
        if name == "tiny-encoder-bf16":
            loaded = BertTokenizer.from_pretrained(model_dir)
            probe = ("A HAPPY girl, unhappy boy; the Café's sunlight (daytime)?", "猫 xylophone.")
            assert loaded(*probe)["input_ids"] == tokenizer(*probe)["input_ids"]
        config = BertConfig.from_pretrained(model_dir)
        reports[name] = make_manifest(name, model_dir, spec["kind"], tiny_cases(name, config), tokenizer)

    default_name = Path(args.default_model).name
    tokenizer = BertTokenizer.from_pretrained(args.default_model)
    cases, sources = default_cases(args.glue_dir)
    reports[default_name] = make_manifest(default_name, Path(args.default_model), "encoder", cases, tokenizer,
                                          sources, DEFAULT_MAX_STORED_ATTENTION_TOKENS)

    print("additive attention masks seen in eager attention:", sorted(AttentionState.masks_seen))
    for name, report in reports.items():
        print(name)
        for case, (length, batch, row_sum, alone, per_output) in report.items():
            detail = "" if per_output is None else " (" + ", ".join(
                f"{k} {v:.1e}" for k, v in per_output.items()) + ")"
            print(f"  {case:44s} B={batch} T={length:3d} row-sum err {row_sum:.1e} padded-vs-alone "
                  f"{'-' if alone is None else f'{alone:.1e}'}{detail}")


if __name__ == "__main__":
    main()

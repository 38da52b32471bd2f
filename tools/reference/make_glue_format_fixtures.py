#!/usr/bin/env python3
"""Small GLUE-format files written for the project (our own sentences, no GLUE data), for the reader tests and
the tiny-model evaluation fixtures. Writes Tests/BertologyTests/Fixtures/glue-format/<Task>/<split>.tsv in the exact
layout download_glue_data.py produces (headers, column order, TAB-separated, no quoting, LF line ends):

- the tasks and splits ../shared/data/glue does not have: QQP, MNLI (matched + mismatched), WNLI, QNLI train, and
  the test split of every task;
- MNLI dev_matched (tiny-classifier) and STS-B dev (tiny-regression, tiny-encoder-bf16) sized for the tiny models:
  words from their 139-entry vocabulary, a few pairs longer than their max_position_embeddings (40 and 29) so that
  truncation is exercised, and repeated STS-B scores so that Spearman's average ranks are exercised.

Deterministic; run from the repository root:  python3 tools/reference/make_glue_format_fixtures.py
"""

from pathlib import Path

OUT = Path("Tests/BertologyTests/Fixtures/glue-format")


def write(task, split, header, rows):
    folder = OUT / task
    folder.mkdir(parents=True, exist_ok=True)
    lines = ([] if header is None else ["\t".join(header)]) + ["\t".join(str(f) for f in row) for row in rows]
    for line in lines:
        assert "\n" not in line and "\r" not in line
    (folder / f"{split}.tsv").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def binary_parse(sentence):
    return "( " + " ".join(sentence.replace(".", " .").split()) + " )"


def parse(sentence):
    return "(ROOT (S " + " ".join(f"(NN {w})" for w in sentence.replace(".", " .").split()) + "))"


# MARK: - MNLI (tiny-classifier: max_position_embeddings 40)

LONG_A = ("The young boy and the old man walked from the city to the river with two dogs, and they played ball "
          "under the big green tree near the house.")
LONG_B = "The man and the boy were very happy in the park with the dogs at night."

MNLI_DEV_MATCHED = [
    ("The man is playing the guitar.", "A man plays music.", "entailment"),
    ("The man is playing the guitar.", "The man is asleep.", "contradiction"),
    ("A woman rides a horse in the park.", "A woman is on a horse.", "entailment"),
    ("A woman rides a horse in the park.", "The woman likes the horse.", "neutral"),
    ("Two children play ball on the street.", "The children are sleeping.", "contradiction"),
    ("Two children play ball on the street.", "Children are playing a game.", "entailment"),
    ("The cat sleeps under the tree.", "A cat is under a tree.", "entailment"),
    ("The cat sleeps under the tree.", "The cat is very old.", "neutral"),
    ("A dog runs near the river.", "The dog is not near the river.", "contradiction"),
    ("A dog runs near the river.", "The dog is fast.", "neutral"),
    ("She reads a book at night.", "She is reading.", "entailment"),
    ("She reads a book at night.", "She reads a new book about music.", "neutral"),
    ("The birds sing in the green tree.", "The birds are sad.", "neutral"),
    ("The birds sing in the green tree.", "No birds are in the tree.", "contradiction"),
    ("He walks his dog in the city.", "He is with his dog.", "entailment"),
    ("They eat food by the water.", "They are eating.", "entailment"),
    ("The red car is very slow.", "The red car is fast.", "contradiction"),
    ("A girl and a boy jump over the ball.", "Two people jump.", "entailment"),
    (LONG_A, LONG_B, "neutral"),
    (LONG_A + " " + LONG_A, "The boy sleeps.", "contradiction"),
]
MNLI_DEV_MISMATCHED = [
    ("The old woman sings a song.", "A woman sings.", "entailment"),
    ("The old woman sings a song.", "The woman is young.", "contradiction"),
    ("We ride the blue car to the park.", "We like the park.", "neutral"),
    ("The child is happy with the book.", "The child is sad.", "contradiction"),
    ("People walk on the new street.", "People are on a street.", "entailment"),
]
MNLI_TRAIN = [
    ("A bird is on the house.", "A bird is near a house.", "entailment"),
    ("The horse eats.", "The horse sleeps.", "contradiction"),
    ("The boy reads.", "The boy reads a good book.", "neutral"),
]
MNLI_TEST_MATCHED = [("The dog sleeps.", "A dog is asleep."), ("A man runs.", "Nobody runs.")]
MNLI_TEST_MISMATCHED = [("The girl sings.", "The girl is happy."), ("Two cats play.", "Cats play.")]
GENRES = ["fiction", "government", "slate", "telephone", "travel"]


def write_mnli():
    columns = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]

    def row(i, a, b):
        return [i, 1000 + i, f"{1000 + i}e", GENRES[i % len(GENRES)], binary_parse(a), binary_parse(b),
                parse(a), parse(b), a, b]

    write("MNLI", "train", columns + ["label1", "gold_label"],
          [row(i, a, b) + [label, label] for i, (a, b, label) in enumerate(MNLI_TRAIN)])
    for split, pairs in [("dev_matched", MNLI_DEV_MATCHED), ("dev_mismatched", MNLI_DEV_MISMATCHED)]:
        write("MNLI", split, columns + ["label1", "label2", "label3", "label4", "label5", "gold_label"],
              [row(i, a, b) + [label] * 5 + [label] for i, (a, b, label) in enumerate(pairs)])
    write("MNLI", "test_matched", columns, [row(i, a, b) for i, (a, b) in enumerate(MNLI_TEST_MATCHED)])
    write("MNLI", "test_mismatched", columns, [row(i, a, b) for i, (a, b) in enumerate(MNLI_TEST_MISMATCHED)])


# MARK: - STS-B (tiny-regression: max_position_embeddings 29)

STSB_DEV = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A man is playing a guitar.", "A woman is reading a book.", 0.4),
    ("A woman rides a horse.", "A woman is riding a horse.", 5.0),
    ("A dog runs in the park.", "A dog is running in a park.", 4.8),
    ("The cat sleeps.", "A bird sings.", 0.0),
    ("Two children play ball.", "Children are playing a game.", 3.6),
    ("The red car is fast.", "The blue car is slow.", 1.2),
    ("She reads a book at night.", "She is reading at night.", 3.6),
    ("A man eats food.", "A man is eating.", 4.2),
    ("The birds sing in the tree.", "Birds are singing.", 3.6),
    ("The old man walks his dog.", "A young boy walks.", 1.2),
    ("People ride in the car.", "People are in a car.", 3.8),
    ("A girl jumps over the ball.", "A boy jumps over a ball.", 2.4),
    ("The river is near the city.", "The city is near a river.", 4.8),
    ("He likes music.", "He loves music.", 3.8),
    ("The house is big.", "The tree is small.", 0.0),
    (LONG_A, LONG_B, 2.4),
    ("They play a game in the street.", LONG_A, 1.0),
]
STSB_TEST = [("A cat sleeps.", "The cat is asleep."), ("A man sings.", "A woman runs.")]


def write_stsb():
    columns = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"]

    def row(i, a, b):
        return [i, "main-captions", "MSRvid", "2012test", f"{i:04d}", "none", "none", a, b]

    write("STS-B", "dev", columns + ["score"], [row(i, a, b) + [f"{s:.3f}"] for i, (a, b, s) in enumerate(STSB_DEV)])
    write("STS-B", "test", columns, [row(i, a, b) for i, (a, b) in enumerate(STSB_TEST)])


# MARK: - The other tasks: QQP, WNLI, QNLI train, test splits

def write_others():
    write("QQP", "train", ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], [
        [0, 1, 2, "How do I play the guitar?", "What is the best way to learn guitar?", 1],
        [1, 3, 4, "Why is the sky blue?", "How fast does a horse run?", 0],
        [2, 5, 6, "What do cats eat?", "What food do cats like?", 1],
    ])
    write("QQP", "dev", ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], [
        [10, 21, 22, "Where is the river?", "Where can I find the river?", 1],
        [11, 23, 24, "Is the game new?", "Who wrote this song?", 0],
        [12, 25, 26, "How do dogs sleep?", "Why do dogs sleep so much?", 0],
        [13, 27, 28, "What is a good book to read?", "Which book should I read?", 1],
        [14, 29, 30, "Can birds sing at night?", "Do birds sing at night?", 1],
    ])
    write("QQP", "test", ["id", "question1", "question2"], [
        [0, "How do I ride a horse?", "How can I learn to ride a horse?"],
        [1, "What is music?", "Where is the park?"],
    ])
    write("WNLI", "train", ["index", "sentence1", "sentence2", "label"], [
        [0, "The dog chased the cat because it was fast.", "The dog was fast.", 1],
        [1, "The man gave the boy a book because he was kind.", "The boy was kind.", 0],
    ])
    write("WNLI", "dev", ["index", "sentence1", "sentence2", "label"], [
        [0, "The girl helped her friend because she was strong.", "The girl was strong.", 1],
        [1, "The horse did not jump the wall because it was tired.", "The wall was tired.", 0],
        [2, "The bird sang to the cat until it slept.", "The cat slept.", 1],
    ])
    write("WNLI", "test", ["index", "sentence1", "sentence2"], [
        [0, "The boy thanked the man because he helped.", "The man helped."],
    ])
    write("QNLI", "train", ["index", "question", "sentence", "label"], [
        [0, "Where do the birds sing?", "The birds sing in the green tree.", "entailment"],
        [1, "Who reads the book?", "The river is near the city.", "not_entailment"],
    ])
    write("QNLI", "test", ["index", "question", "sentence"], [
        [0, "What does the cat do?", "The cat sleeps under the tree."],
        [1, "Where is the car?", "The song was new."],
    ])
    write("CoLA", "test", ["index", "sentence"], [[0, "The cat sleeps."], [1, "Sleeps cat the."]])
    write("SST-2", "test", ["index", "sentence"], [[0, "a good , happy film ."], [1, "slow and sad ."]])
    write("MRPC", "test", ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"], [
        [0, 101, 102, "The company said profits rose .", "Profits rose , the company said ."],
        [1, 103, 104, "He walked to the park .", "She drove to the city ."],
    ])
    write("RTE", "test", ["index", "sentence1", "sentence2"], [
        [0, "A man plays the guitar in the park.", "A man plays music."],
    ])


def main():
    if not Path("Package.swift").exists():
        raise SystemExit("run from the repository root")
    write_mnli()
    write_stsb()
    write_others()


if __name__ == "__main__":
    main()

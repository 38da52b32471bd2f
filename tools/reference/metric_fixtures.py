#!/usr/bin/env python3
"""Reference values of GLUE's metrics from scikit-learn and SciPy (developer machines only; CI never runs this).

Writes Tests/BertologyTests/Fixtures/metrics/metrics.json: a list of cases {name, metric, predictions, labels,
value}, with value null where the library returns NaN. The Swift tests compare within 1e-12 relative.

  accuracy  sklearn.metrics.accuracy_score
  f1        sklearn.metrics.f1_score(labels, predictions)        (binary, pos_label=1, zero_division default)
  mcc       sklearn.metrics.matthews_corrcoef(labels, predictions)
  pearson   scipy.stats.pearsonr(predictions, labels).statistic
  spearman  scipy.stats.spearmanr(predictions, labels).statistic  (average ranks for ties)

Cases include ties, constant vectors (SciPy: NaN; scikit-learn MCC: 0), single-class labels, perfect and inverted
predictions, and values with a large common offset. Deterministic (seeded); run from the repository root.
"""

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

OUT = Path("Tests/BertologyTests/Fixtures/metrics/metrics.json")


def value_of(metric, predictions, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant-input and zero-division warnings: the value is what we test
        if metric == "accuracy":
            return float(accuracy_score(labels, predictions))
        if metric == "f1":
            return float(f1_score(labels, predictions))
        if metric == "mcc":
            return float(matthews_corrcoef(labels, predictions))
        if metric == "pearson":
            return float(scipy.stats.pearsonr(np.asarray(predictions, dtype=np.float64),
                                              np.asarray(labels, dtype=np.float64)).statistic)
        if metric == "spearman":
            return float(scipy.stats.spearmanr(predictions, labels).statistic)
    raise ValueError(metric)


def main():
    if not Path("Package.swift").exists():
        sys.exit("run from the repository root")
    rng = np.random.RandomState(20190911)
    cases = []

    def add(name, metric, predictions, labels):
        predictions = [int(p) for p in predictions] if metric in ("accuracy", "f1", "mcc") else \
            [float(p) for p in predictions]
        labels = [int(x) for x in labels] if metric in ("accuracy", "f1", "mcc") else [float(x) for x in labels]
        value = value_of(metric, predictions, labels)
        cases.append({"name": name, "metric": metric, "predictions": predictions, "labels": labels,
                      "value": None if math.isnan(value) else value})

    binary_labels = rng.randint(0, 2, size=200)
    binary_predictions = np.where(rng.rand(200) < 0.8, binary_labels, 1 - binary_labels)
    three_labels = rng.randint(0, 3, size=150)
    three_predictions = np.where(rng.rand(150) < 0.6, three_labels, rng.randint(0, 3, size=150))

    # Classification metrics.
    for metric in ("accuracy", "f1", "mcc"):
        add(f"{metric}-binary-200", metric, binary_predictions, binary_labels)
        add(f"{metric}-perfect", metric, binary_labels[:50], binary_labels[:50])
        add(f"{metric}-inverted", metric, 1 - binary_labels[:50], binary_labels[:50])
        add(f"{metric}-constant-prediction-0", metric, [0] * 40, binary_labels[:40])
        add(f"{metric}-constant-prediction-1", metric, [1] * 40, binary_labels[:40])
        add(f"{metric}-labels-all-0", metric, binary_predictions[:30], [0] * 30)
        add(f"{metric}-labels-all-1", metric, binary_predictions[:30], [1] * 30)
        add(f"{metric}-all-0-both", metric, [0] * 12, [0] * 12)
        add(f"{metric}-single-example", metric, [1], [0])
    add("accuracy-three-class", "accuracy", three_predictions, three_labels)
    add("mcc-three-class", "mcc", three_predictions, three_labels)
    add("mcc-three-class-predicts-two", "mcc", np.minimum(three_predictions, 1), three_labels)

    # Correlations.
    scores = np.round(rng.uniform(0, 5, size=300), 1)          # STS-B-like gold scores, many ties
    noisy = scores + rng.normal(0, 1.0, size=300)
    for metric in ("pearson", "spearman"):
        add(f"{metric}-stsb-like-300", metric, noisy, scores)
        add(f"{metric}-ties-both", metric, np.round(noisy), scores)
        add(f"{metric}-integer-ties", metric, rng.randint(0, 4, size=60), rng.randint(0, 4, size=60))
        add(f"{metric}-perfect", metric, scores[:20], scores[:20])
        add(f"{metric}-reversed", metric, -scores[:20], scores[:20])
        add(f"{metric}-two-values", metric, [0.25, 0.75], [3.0, 1.0])
        add(f"{metric}-constant-prediction", metric, [0.5] * 25, scores[:25])
        add(f"{metric}-constant-labels", metric, noisy[:25], [2.0] * 25)
        add(f"{metric}-large-offset", metric, 1e6 + noisy[:100] * 1e-3, scores[:100])
        add(f"{metric}-cosine-like", metric, rng.uniform(-0.2, 1.0, size=120), rng.uniform(0, 5, size=120))

    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generator": "tools/reference/metric_fixtures.py",
        "versions": {"scikit-learn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__},
        "conventions": "value is null where the library returns NaN; predictions and labels in the library's "
                       "argument order are (labels, predictions) for scikit-learn, (predictions, labels) for SciPy",
        "cases": cases,
    }
    OUT.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()

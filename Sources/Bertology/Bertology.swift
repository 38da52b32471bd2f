// The product an app imports: `import Bertology` gives the engine (checkpoints, tokenizer, model,
// partial forward, kernels settings) and the experiments built on it (GLUE, evaluation, analyses,
// ablation, reports). The layering itself is in Package.swift and docs/DESIGN.md.
@_exported import BertologyEngine
@_exported import BertologyExperiments

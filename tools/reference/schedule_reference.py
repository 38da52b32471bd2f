"""Learning rates of transformers' get_linear_schedule_with_warmup, for FineTuningScheduleTests.

    python tools/reference/schedule_reference.py

Writes Tests/BertologyTests/Fixtures/reference/finetune/schedule.json: for a few (total steps, warmup
ratio, peak) cases, the warmup steps as TrainingArguments.get_warmup_steps computes them
(ceil(ratio x total)) and the learning rate of every update, read from a real torch AdamW's
param_groups after the scheduler (first update: lr 0).
"""
import json
import math
import os

import torch
from transformers import get_linear_schedule_with_warmup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests/BertologyTests/Fixtures/reference/finetune/schedule.json")

cases = []
for total, ratio, peak in [(10, 0.1, 5e-5), (345, 0.1, 5e-5), (7, 0.0, 1e-3), (3, 1.0, 2e-5), (1, 0.1, 5e-5), (96, 0.06, 3e-5)]:
    warmup = math.ceil(total * ratio)
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=peak)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    cases.append({"total_steps": total, "warmup_ratio": ratio, "peak": peak, "warmup_steps": warmup, "learning_rates": rates})
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"source": "transformers.get_linear_schedule_with_warmup + torch.optim.AdamW", "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote", OUT)

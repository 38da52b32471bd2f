#!/bin/bash
# An ablation sweep split into N parts as a Slurm job array, then merged by a dependent job.
#
#   mkdir -p logs                                             # Slurm does not create --output's folder:
#                                                             # without it every job fails at launch, no log
#   sbatch docs/examples/ablate-slurm.sh                      # submits the array (parts 1..N)
#   sbatch --dependency=afterok:<array job id> --array=0 --export=ALL,MERGE=1 docs/examples/ablate-slurm.sh
#
# or both at once:
#   jid=$(sbatch --parsable docs/examples/ablate-slurm.sh)
#   sbatch --dependency=afterok:$jid --array=0 --export=ALL,MERGE=1 docs/examples/ablate-slurm.sh
#
# --array=0 makes the merge one job: the #SBATCH --array line below would start N merges of the same folder.
# Every part reads the same model and data (a shared file system, or the same files copied to each node: the
# journal identifies them by SHA-256, not by path) and writes its own folder under $SWEEP. A part that is
# preempted or hits its time limit is requeued and continues its journal (--resume): nothing finished is redone.
# Use the same CPU type for every part (or force one instruction set with BERTOLOGY_ISA=avx2): merge refuses parts
# whose kernels differ, as they round differently in the last bits.
#
#SBATCH --job-name=bertology-ablate
#SBATCH --array=0-3                 # N = 4 parts; SLURM_ARRAY_TASK_ID is 0-based, --shard is 1-based
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --output=logs/ablate-%A_%a.out

set -euo pipefail

BERTOLOGY=${BERTOLOGY:-bertology}                 # the release binary: swift build -c release
MODEL=${MODEL:-$HOME/models/bert-base-mrpc}
GLUE=${GLUE:-$HOME/glue_data}
TASK=${TASK:-MRPC}
MODE=${MODE:-uniform}
SWEEP=${SWEEP:-$HOME/sweeps/$TASK-$MODE}

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

if [[ "${MERGE:-0}" == 1 ]]; then
    # The merge step: checks that every part 1..N is there, finished, and from the same sweep.
    exec "$BERTOLOGY" merge "$SWEEP"/part-* --out "$SWEEP/merged" --force
fi

N=${SLURM_ARRAY_TASK_COUNT:?run under sbatch --array}
I=$((SLURM_ARRAY_TASK_ID + 1))
# --resume starts the journal on the first run and continues it after a requeue.
exec "$BERTOLOGY" ablate --model "$MODEL" --task "$TASK" --data "$GLUE" --mode "$MODE" \
    --shard "$I/$N" --resume --out "$SWEEP/part-$I-of-$N"

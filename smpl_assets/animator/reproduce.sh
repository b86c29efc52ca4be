#!/usr/bin/env bash
# Rebuild smpl_assets/animator/animator.safetensors (the multi-identity generator) from scratch:
# synthetic identity pairs (neural_render/generator/identity_pairs.py; nothing downloaded), then
# training. Run from the repository root after the set-up. DEVICE=cuda trains on a GPU (same code).
#   bash smpl_assets/animator/reproduce.sh                                   # the shipped recipe (CPU)
#   DEVICE=cuda COUNT=20000 STEPS=40000 BATCH=32 CROP= bash smpl_assets/animator/reproduce.sh
# The shipped file came from exactly these defaults plus MINUTES=85 on a 2-core machine shared with
# other jobs: its learning rate decayed with the clock where that ran ahead of the steps, so a rerun
# gives a close but not bit-identical checkpoint (animator.train_log.json has its loss curve).
set -euo pipefail
PY=${PY:-.venv/bin/python}
WORK=${WORK:-animator_work}
COUNT=${COUNT:-200}        # identity pairs (128 px; the last 20 of the first shard are held out); ~0.25 CPU-s each
STEPS=${STEPS:-4000}
BATCH=${BATCH:-6}
NGF=${NGF:-16}
CROP=${CROP-96}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-smpl_assets/animator/animator.safetensors}
$PY -m neural_render.generator.train_animator pairs --out "$WORK/pairs" --count "$COUNT" --size 128 --seed 0
$PY -m neural_render.generator.train_animator train --pairs "$WORK/pairs" --out "$OUT" --steps "$STEPS" \
    --batch "$BATCH" --ngf "$NGF" --device "$DEVICE" --threads "${THREADS:-1}" ${CROP:+--crop $CROP} \
    ${MINUTES:+--minutes $MINUTES}

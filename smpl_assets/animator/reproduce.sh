#!/usr/bin/env bash
# Rebuild smpl_assets/animator/animator.safetensors (the multi-identity generator) from scratch:
# synthetic identity pairs (neural_render/generator/identity_pairs.py; nothing downloaded), then
# training. Run from the repository root after the set-up. DEVICE=cuda trains on a GPU (same code).
#   bash smpl_assets/animator/reproduce.sh            # CPU, as shipped
#   DEVICE=cuda STEPS=20000 BATCH=32 bash smpl_assets/animator/reproduce.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
WORK=${WORK:-animator_work}
COUNT=${COUNT:-2000}       # identity pairs (128 px); ~0.25 CPU-s each
STEPS=${STEPS:-3000}
BATCH=${BATCH:-8}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-smpl_assets/animator/animator.safetensors}
$PY -m neural_render.generator.train_animator pairs --out "$WORK/pairs" --count "$COUNT" --size 128 --seed 0
$PY -m neural_render.generator.train_animator train --pairs "$WORK/pairs" --out "$OUT" --steps "$STEPS" \
    --batch "$BATCH" --ngf 24 --device "$DEVICE" ${THREADS:+--threads $THREADS}

#!/usr/bin/env bash
# Reproduce smpl_assets/actor_generator.safetensors (the reference actor's generator) and its metrics.
# CPU only; ~1 h of rendering and ~45 min of training on 2 shared cores. Run from the repository root.
# Set DATA to the shared test data folder (see tests/conftest.py) and WORK to a scratch folder.
# The shipped checkpoint was trained on the reference actor v1 (the textured body alone); set
# ACTOR_VERSION=1 to reproduce it. The default (2) renders actor v2 (garments, long hair: BENCHMARKS.md)
# and trains the v2 checkpoint, plus its step-0 baseline (scripts/generator_step0.py).
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${WORK:-/tmp/nr_actor_generator}
NR=${NR:-.venv/bin/neural-render}
ACTOR_VERSION=${ACTOR_VERSION:-2}
mkdir -p "$WORK"

# 1. motions (BVH retargeted onto the default body, 30 fps)
$NR motion import "$DATA/mocap/cmu_131_01_walk.bvh" --out "$WORK/walk.npz" --fps 30 --no-preview
$NR motion import "$DATA/mocap/cmu_131_03_hop.bvh" --out "$WORK/hop.npz" --fps 30 --no-preview

# 2. reference actor: Cycles frames + all passes (train on the walk, last 10 % held out; test on the hop)
$NR actor render --motion "$WORK/walk.npz" --out "$WORK/walk256" --size 256 --split 0.1 --actor-version "$ACTOR_VERSION"
$NR actor render --motion "$WORK/hop.npz" --out "$WORK/hop256" --size 256 --actor-version "$ACTOR_VERSION"

# 3. training (texture initialised by back-projecting the walk frames, then 900 steps on 128 px crops;
#    then the same run resumed to 1700 steps: a warm restart of the learning-rate schedule)
$NR train --data "$WORK/walk256" --out "$WORK/run" --size 256 --crop 128 --batch 4 --steps 900 \
    --ngf 16 --n-res 2 --no-temporal --threads 2 --val "$WORK/walk256" --val-split test --val-every 300 \
    --val-frames 24 --snapshot-every 150 --ckpt-every 25 --sample-every 150 --log-every 5
$NR train --data "$WORK/walk256" --out "$WORK/run" --steps 1700 --threads 2
cp "$WORK/run/generator.safetensors" smpl_assets/actor_generator.safetensors

# 4. evaluation on the unseen motion, against the initialisation alone (step 0)
.venv/bin/python scripts/generator_step0.py --options "$WORK/run/options.json" --out "$WORK/step0.safetensors"
$NR eval --checkpoint "$WORK/step0.safetensors" --data "$WORK/hop256" --json
$NR eval --checkpoint smpl_assets/actor_generator.safetensors --data "$WORK/hop256" --json

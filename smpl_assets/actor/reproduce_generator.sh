#!/usr/bin/env bash
# Reproduce smpl_assets/actor_generator.safetensors (the reference actor v2's generator) and its metrics.
# CPU only; ~35 min of rendering and ~45-75 min of training on 2 shared cores. Run from the repository root.
# Set DATA to the shared test data folder (see tests/conftest.py) and WORK to a scratch folder.
# The actor v2 wears a loose T-shirt, a flared skirt, shoes and long hair (smpl_assets/actor/actor.json);
# the checkpoint shipped before (trained on the actor v1, the textured body alone) came from this
# script as of commit b0c19c0.
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${WORK:-/tmp/nr_actor_generator}
NR=${NR:-.venv/bin/neural-render}
mkdir -p "$WORK"

# 1. motions (BVH retargeted onto the default body, 30 fps)
$NR motion import "$DATA/mocap/cmu_131_01_walk.bvh" --out "$WORK/walk.npz" --fps 30 --no-preview
$NR motion import "$DATA/mocap/cmu_131_03_hop.bvh" --out "$WORK/hop.npz" --fps 30 --no-preview

# 2. reference actor v2: Cycles frames + all passes (train on the walk, last 10 % held out; test on the
#    hopping part of the hop, frames 101-196, never trained on)
$NR actor render --motion "$WORK/walk.npz" --out "$WORK/walk256" --size 256 --split 0.1
$NR actor render --motion "$WORK/hop.npz" --out "$WORK/hop256_101_196" --size 256 --frames 101:196

# 3. training: texture initialised by back-projecting the walk frames, 1700 steps on 128 px crops (the
#    learning rate decays linearly from 60 % of the run to 10 %), then the same run resumed with
#    --steps 5000 (the rate stays at its reached 10 %) and stopped after step 3100
$NR train --data "$WORK/walk256" --out "$WORK/run" --size 256 --crop 128 --batch 4 --steps 1700 \
    --ngf 16 --n-res 2 --no-temporal --threads 2 --snapshot-every 100 --ckpt-every 25 --log-every 5 \
    --sample-every 100000
$NR train --data "$WORK/walk256" --out "$WORK/run" --steps 5000 --stop-at 3100 --threads 2

# 4. evaluation on the unseen motion, against the initialisation alone (step 0); the checkpoint ships
#    with both evaluations in its metadata
.venv/bin/python scripts/generator_step0.py --options "$WORK/run/options.json" --out "$WORK/step0.safetensors"
$NR eval --checkpoint "$WORK/step0.safetensors" --data "$WORK/hop256_101_196" --json > "$WORK/eval_step0.json"
$NR eval --checkpoint "$WORK/run/generator.safetensors" --data "$WORK/hop256_101_196" --json > "$WORK/eval.json"
.venv/bin/python scripts/export_actor_generator.py --checkpoint "$WORK/run/generator.safetensors" \
    --eval "$WORK/eval.json" --step0-eval "$WORK/eval_step0.json" --steps 3100 \
    --out smpl_assets/actor_generator.safetensors

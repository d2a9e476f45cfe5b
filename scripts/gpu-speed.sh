#!/usr/bin/env bash
# README "Speed", the GPU part: ViT-B 16x224^2 pretraining steps (mask 0.9 and 0.75) and finetuning steps, this
# project beside the official MCG-NJU model code (as released: fp16 autocast, eager attention) and transformers'
# VideoMAE (sdpa), with MFU against the GPU's peak, plus loader throughput and the bound. A few minutes on one GPU.
#   scripts/gpu-speed.sh PATH/TO/MCG-NJU-VideoMAE-checkout [OUT]   (OUT default: runs/speed)
set -euo pipefail
official=${1:?usage: scripts/gpu-speed.sh PATH/TO/MCG-NJU-VideoMAE-checkout [OUT]}
out=${2:-runs/speed}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
for mask in 0.9 0.75; do
  bench speed --protocol videomae --task embedded --set pretrain.mask_ratio="$mask" --batch 32 --steps 20 \
    --reference official="$official" --reference hf --format json | tee "$out/vitb-16x224-mask$mask.json"
done

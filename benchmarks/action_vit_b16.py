"""Trainable parameters and training-step time of the video classifier's variants on a
ViT-B/16-shaped model (random weights, CPU).

    python benchmarks/action_vit_b16.py [--batch 1] [--frames 8] [--classes 400]

Each variant is built by the model factory from a `ModelConfig` (backbone `vit` of CLIP ViT-B/16's
size: width 768, 12 blocks, 12 heads, MLP 3072, patch 16, 224 x 224 frames), then takes one
warm-up step and one timed step: forward, cross-entropy, backward and an AdamW step over the
trainable parameters, on one clip of `--frames` frames per video.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import torch
import torch.nn.functional as F

from sparsevl.models.factory import AdapterConfig, ModelConfig, build_video_classifier

VIT_B16 = ModelConfig(architecture="video_classifier", backbone="vit", hidden_size=768, num_layers=12, num_heads=12,
                      intermediate_size=3072, patch_size=16, dropout=0.5)
VARIANTS = {
    "full fine-tune (space-only, mean over frames)": {},
    "frozen + linear head (space-only)": {"freeze_backbone": True},
    "frozen + ST-Adapter 12 x 384": {"freeze_backbone": True, "adapter": AdapterConfig(type="st", layers=12)},
    "frozen + ST-Adapter 24 x 384": {"freeze_backbone": True, "adapter": AdapterConfig(type="st", layers=24)},
    "frozen + divided space-time attention": {"freeze_backbone": True, "attention_type": "divided_space_time"},
    "full fine-tune, divided space-time attention": {"attention_type": "divided_space_time"},
}


def step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, frames: torch.Tensor, labels: torch.Tensor) -> float:
    start = time.perf_counter()
    loss = F.cross_entropy(model(frames)[:, 0], labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1, help="videos per step")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--classes", type=int, default=400)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {os.getloadavg()}")
    print(f"one step: {args.batch} video(s) x {args.frames} frames x 224 x 224, {args.classes} classes\n")
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (args.batch, 1, args.frames, 224, 224, 3), dtype=torch.uint8)
    labels = torch.randint(0, args.classes, (args.batch,))
    rows = []
    for name, changes in VARIANTS.items():
        cfg = dataclasses.replace(VIT_B16, num_frm=args.frames, **changes)
        model = build_video_classifier(cfg, args.classes, image_size=224).train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=1e-4)
        step(model, optimizer, frames, labels)  # warm-up: allocations, AdamW state
        seconds = step(model, optimizer, frames, labels)
        total = sum(p.numel() for p in model.parameters())
        rows.append((name, sum(p.numel() for p in trainable), total, seconds))
        print(f"| {name} | {rows[-1][1]:,} | {total:,} | {seconds:.1f} s |", flush=True)
        del model, optimizer
    print("\n| variant | trainable parameters | total parameters | step time |\n|---|---|---|---|")
    for name, trainable, total, seconds in rows:
        print(f"| {name} | {trainable:,} | {total:,} | {seconds:.1f} s |")


if __name__ == "__main__":
    main()

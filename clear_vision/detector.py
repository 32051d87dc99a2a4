"""Stage 1: a small U-Net that finds cloud and cloud shadow in single RGB frames."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["CloudDetector", "whiteness_test"]


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CloudDetector(nn.Module):
    """U-Net on one RGB frame: (N,3,H,W) in [0,1] -> (N,2,H,W) logits for [cloud, shadow].

    Each level halves the resolution with a strided conv, so H and W must be divisible by
    2**(len(widths)-1); the pipeline pads frames to that. Narrow widths keep it fast on a CPU;
    the deepest levels are cheap and give the context that tells clouds from bright ground.

    Args:
        widths (tuple[int, ...]): channels per level, full resolution first.
    """

    classes = ("cloud", "shadow")

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64, 96)) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.config = {"widths": list(self.widths)}
        self.stem = nn.Sequential(conv_bn_relu(3, widths[0]), conv_bn_relu(widths[0], widths[0]))
        self.down = nn.ModuleList(
            nn.Sequential(conv_bn_relu(w_in, w_out, stride=2), conv_bn_relu(w_out, w_out))
            for w_in, w_out in zip(widths[:-1], widths[1:])
        )
        self.up = nn.ModuleList(
            nn.Sequential(conv_bn_relu(w_deep + w_skip, w_skip), conv_bn_relu(w_skip, w_skip))
            for w_skip, w_deep in zip(widths[:-1], widths[1:])
        )
        self.head = nn.Conv2d(widths[0], len(self.classes), 1)

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def fused(self) -> "CloudDetector":
        """An inference copy: BatchNorm folded into the convs, weights channels-last (faster on CPU)."""
        model = copy.deepcopy(self).eval()
        for block in model.modules():
            if isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[1], nn.BatchNorm2d):
                block[0], block[1] = fuse_conv_bn_eval(block[0], block[1]), nn.Identity()
        return model.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] % self.size_multiple or images.shape[-2] % self.size_multiple:
            raise ValueError(f"CloudDetector needs H and W divisible by {self.size_multiple}, got {tuple(images.shape[-2:])}")
        images = images.contiguous(memory_format=torch.channels_last)  # oneDNN's fast layout for narrow convs
        features = self.stem((images - 0.5) / 0.25)
        skips = []
        for block in self.down:
            skips.append(features)
            features = block(features)
        for block, skip in zip(reversed(self.up), reversed(skips)):
            features = F.interpolate(features, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            features = block(torch.cat([features, skip], dim=1))
        return self.head(features)


def whiteness_test(frames: np.ndarray, brightness: float = 0.6, whiteness: float = 0.3) -> np.ndarray:
    """The classic thick-cloud test on 8-bit RGB: bright and nearly grey. (T,H,W,3) -> (T,H,W) bool.

    On its own it is the anchor every detector must beat (BENCHMARK.md); next to the network it
    catches thick cloud cores the network misses (the network learned SCL's "snow" as clear).
    """
    rgb = frames.astype(np.float32) / 255.0
    mean = rgb.mean(axis=-1)
    spread = (rgb.max(axis=-1) - rgb.min(axis=-1)) / np.maximum(mean, 1e-6)
    return (mean > brightness) & (spread < whiteness)

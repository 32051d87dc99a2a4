"""Stage 1: a small U-Net that finds cloud and cloud shadow in each frame of a time series.

Besides the frame, the temporal detector sees the same place's clear appearance built from the
other dates (`reference.py`): clouds and shadows come and go, the ground stays. A single-frame
detector (3 input channels) is the same class with `in_channels=3`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["CloudDetector", "SplitMerge"]


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SplitMerge(nn.Module):
    """An up block's first conv on (upsampled deep features, skip) without concatenating them: a
    conv of each channel group, summed. The same sums as the conv of the concatenation; on a CPU
    the concatenated copy in channels-last layout cost more than the convs (stage 1 about 14 %
    faster). Used by the inference copy (`CloudDetector.fused`); training keeps the one conv."""

    def __init__(self, conv: nn.Conv2d, deep_channels: int) -> None:
        super().__init__()
        out_channels, in_channels = conv.weight.shape[:2]
        where = {"device": conv.weight.device, "dtype": conv.weight.dtype}  # beside the network's other weights (a CUDA model's too)
        self.deep = nn.Conv2d(deep_channels, out_channels, 3, padding=1, bias=conv.bias is not None, **where)
        self.skip = nn.Conv2d(in_channels - deep_channels, out_channels, 3, padding=1, bias=False, **where)
        with torch.no_grad():
            self.deep.weight.copy_(conv.weight[:, :deep_channels])
            self.skip.weight.copy_(conv.weight[:, deep_channels:])
            if conv.bias is not None:
                self.deep.bias.copy_(conv.bias)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.deep(deep).add_(self.skip(skip))


class CloudDetector(nn.Module):
    """U-Net per frame: (N,C,H,W) normalised inputs -> (N,2,H,W) logits for [cloud, shadow].

    Inputs (C = `in_channels`): the frame's RGB, and for the temporal detector (C = 7) the
    reference RGB built from the other dates and a reference-valid channel, all normalised as the
    bundle's `Preprocessing` says (the pipeline does that). Each level halves the resolution with
    a strided conv, so H and W must be divisible by 2**(len(widths)-1); the pipeline pads frames
    to that. Narrow widths keep it fast on a CPU; the deepest levels are cheap and give the
    context that tells clouds from bright ground.

    Args:
        widths (tuple[int, ...]): channels per level, full resolution first.
        in_channels (int): 3 (frame only) or 7 (frame, reference, reference valid).
    """

    classes = ("cloud", "shadow")

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64, 96), in_channels: int = 3) -> None:
        super().__init__()
        if in_channels not in (3, 7):
            raise ValueError(f"in_channels: {in_channels!r} is not 3 (frame) or 7 (frame, reference, reference valid)")
        self.widths, self.in_channels = tuple(widths), in_channels
        self.config = {"widths": list(self.widths)} if in_channels == 3 else {"widths": list(self.widths), "in_channels": in_channels}
        self.stem = nn.Sequential(conv_bn_relu(in_channels, widths[0]), conv_bn_relu(widths[0], widths[0]))
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
        """An inference copy: BatchNorm folded into the convs, each up block's first conv split over
        its two inputs (`SplitMerge`), weights channels-last (faster on CPU)."""
        model = copy.deepcopy(self).eval()
        for block in model.modules():
            if isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[1], nn.BatchNorm2d):
                block[0], block[1] = fuse_conv_bn_eval(block[0], block[1]), nn.Identity()
        for block, deep_channels in zip(model.up, model.widths[1:]):
            block[0][0] = SplitMerge(block[0][0], deep_channels)
        return model.to(memory_format=torch.channels_last)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] % self.size_multiple or inputs.shape[-2] % self.size_multiple:
            raise ValueError(f"CloudDetector needs H and W divisible by {self.size_multiple}, got {tuple(inputs.shape[-2:])}")
        if inputs.shape[-3] != self.in_channels:
            raise ValueError(f"CloudDetector was built for {self.in_channels} input channels, got {inputs.shape[-3]}")
        inputs = inputs.contiguous(memory_format=torch.channels_last)  # oneDNN's fast layout for narrow convs
        features = self.stem(inputs)
        skips = []
        for block in self.down:
            skips.append(features)
            features = block(features)
        for block, skip in zip(reversed(self.up), reversed(skips)):
            features = F.interpolate(features, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            first = block[0][0]
            if isinstance(first, SplitMerge):  # the inference copy
                features = block[1](block[0][2](block[0][1](first(features, skip))))
            else:
                features = block(torch.cat([features, skip], dim=1))
        return self.head(features)

"""Speed reference: networks of the seed system's size (../shared/docs/MODELS.md), defined here.

The benchmark reports Clear Vision's speed as a ratio against these, run in the same process,
so the figure does not depend on how busy or fast the machine is. Weights are random: only the
amount of computation matters, never the output.

    python -m benchmarks.reference      # prints the weight counts
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ReferenceMaskUNet", "ReferenceTemporalUNet", "ReferencePipeline", "count_weights"]

SEED_FRAMES = 10  # the seed pads every sequence to this many frames


def count_weights(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def double_conv(in_channels: int, out_channels: int, mid_channels: int | None = None) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU: the building block of the classic U-Net."""
    mid_channels = mid_channels or out_channels
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ReferenceMaskUNet(nn.Module):
    """Seed stage 1: classic 4-level U-Net, (N,3,H,W) -> (N,2,H,W) logits [clear, cloud].

    Encoder widths 64-128-256-512 with max-pooling; the first decoder level works on 1024
    channels (512 bottleneck + 512 skip) and upsampling is bilinear, the layout that gives the
    seed's ~17 M weights. H and W must be divisible by 16.
    """

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.stem = double_conv(3, widths[0])
        self.down = nn.ModuleList(double_conv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.bottleneck = double_conv(widths[-1], widths[-1])
        # decoder level k: concat(deep, skip) -> output as wide as the next skip up
        outputs = list(widths[-2::-1]) + [widths[0]]
        self.up = nn.ModuleList(
            double_conv(2 * skip, out, mid_channels=skip) for skip, out in zip(widths[::-1], outputs)
        )
        self.head = nn.Conv2d(widths[0], 2, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.stem(images)
        skips = [features]
        for block in self.down:
            features = block(F.max_pool2d(features, 2))
            skips.append(features)
        features = self.bottleneck(F.max_pool2d(features, 2))
        for block, skip in zip(self.up, reversed(skips)):
            features = F.interpolate(features, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            features = block(torch.cat([skip, features], dim=1))
        return self.head(features)


def conv_relu(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """3x3 stride-1 keeps the size, 4x4 stride-2 halves it (both with padding 1)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=1), nn.ReLU(inplace=True))


class ReferenceTemporalUNet(nn.Module):
    """Seed stage 2: per-frame 3x3-conv U-Net with temporal attention, (B,T,3,H,W) -> (B,T,3,H,W).

    Widths 64-128-256-256 (full resolution to 1/8); each level down is a 4x4 stride-2 conv and a
    3x3 conv. At the 1/8 bottleneck (16x16 for 128x128 frames), after one more 3x3 conv, one
    4-head attention layer (with a learned per-frame position and a feed-forward layer) runs
    over time at every pixel; its attention maps, upsampled bilinearly, mix each skip level over
    the input frames per head group. H and W must be divisible by 8.
    """

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 256), heads: int = 4, max_frames: int = SEED_FRAMES) -> None:
        super().__init__()
        self.heads = heads
        self.stem = nn.Sequential(conv_relu(3, widths[0]), conv_relu(widths[0], widths[0]))
        self.down = nn.ModuleList(
            nn.Sequential(conv_relu(a, b, kernel=4, stride=2), conv_relu(b, b)) for a, b in zip(widths[:-1], widths[1:])
        )
        channels = widths[-1]
        self.bottleneck = conv_relu(channels, channels)
        self.position = nn.Parameter(torch.zeros(max_frames, channels))
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.norm = nn.LayerNorm(channels)
        self.feed_forward = nn.Sequential(nn.Linear(channels, 4 * channels), nn.ReLU(inplace=True), nn.Linear(4 * channels, channels))
        self.up = nn.ModuleList(nn.ConvTranspose2d(deep, skip, 2, stride=2) for skip, deep in zip(widths[-2::-1], widths[:0:-1]))
        self.merge = nn.ModuleList(
            nn.Sequential(conv_relu(2 * skip, skip), conv_relu(skip, skip)) for skip in widths[-2::-1]
        )
        self.head = nn.Conv2d(widths[0], 3, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, steps, _, height, width = frames.shape
        skips = [self.stem(frames.flatten(0, 1))]
        for block in self.down:
            skips.append(block(skips[-1]))
        bottom = self.bottleneck(skips.pop())
        channels, h, w = bottom.shape[1:]

        sequences = bottom.view(b, steps, channels, h, w).permute(0, 3, 4, 1, 2).reshape(b * h * w, steps, channels)
        sequences = sequences + self.position[:steps]
        mixed, attention = self.attention(sequences, sequences, sequences, need_weights=True, average_attn_weights=False)
        sequences = self.norm(sequences + mixed)
        sequences = sequences + self.feed_forward(sequences)
        features = sequences.view(b, h, w, steps, channels).permute(0, 3, 4, 1, 2).flatten(0, 1)
        maps = attention.view(b, h, w, -1).permute(0, 3, 1, 2)  # (B, heads*T*T, h, w)

        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            weighted = self._weight_skip(skip.view(b, steps, *skip.shape[1:]), maps)
            features = merge(torch.cat([up(features), weighted.flatten(0, 1)], dim=1))
        return torch.sigmoid(self.head(features)).view(b, steps, 3, height, width)

    def _weight_skip(self, skip: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """skip (B,T,C,H,W) mixed over input frames by the upsampled attention, per head group."""
        b, steps, channels, height, width = skip.shape
        weights = F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
        weights = weights.view(b, self.heads, steps, steps, height, width)
        grouped = skip.view(b, steps, self.heads, channels // self.heads, height, width)
        mixed = torch.einsum("bgtshw,bsgchw->btgchw", weights, grouped)
        return mixed.reshape(b, steps, channels, height, width)


class ReferencePipeline:
    """The seed's two stages on (T,H,W,3) uint8 frames, with the same inputs and outputs as ours."""

    def __init__(self, device: torch.device | str = "cpu", seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.mask_net = ReferenceMaskUNet().to(self.device).eval()
        self.fill_net = ReferenceTemporalUNet().to(self.device).eval()

    @torch.inference_mode()
    def detect(self, frames: np.ndarray) -> np.ndarray:
        """(T,H,W,3) uint8 -> (T,H,W) bool cloud mask: one frame at a time through the U-Net, batched."""
        logits = self.mask_net(self._to_tensor(frames))
        return (logits.argmax(dim=1) == 1).cpu().numpy()

    @torch.inference_mode()
    def fill(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Cloudy pixels set to 1, sequence padded to 10 frames, filled; clear pixels kept."""
        steps = len(frames)
        if steps > SEED_FRAMES:
            raise ValueError(f"frames: the seed system takes at most {SEED_FRAMES} frames, got {steps}")
        images = self._to_tensor(frames)
        cloudy = torch.from_numpy(masks).to(self.device)[:, None]
        images = torch.where(cloudy, torch.ones_like(images), images)
        padding = torch.ones(SEED_FRAMES - steps, *images.shape[1:], device=self.device)
        prediction = self.fill_net(torch.cat([images, padding])[None])[0, :steps]
        predicted = (prediction.permute(0, 2, 3, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
        return np.where(masks[..., None], predicted, frames)

    def run(self, frames: np.ndarray) -> np.ndarray:
        return self.fill(frames, self.detect(frames))

    def _to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255.0


if __name__ == "__main__":
    print(f"ReferenceMaskUNet:     {count_weights(ReferenceMaskUNet()):>11,} weights")
    print(f"ReferenceTemporalUNet: {count_weights(ReferenceTemporalUNet()):>11,} weights")

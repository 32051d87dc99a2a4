"""Stage 2 network: shapes, starting point, use of masks and dates, gradients."""

from __future__ import annotations

import pytest
import torch

from clear_vision import TemporalFiller
from clear_vision.classical import affine_fill


def inputs(batch: int = 2, steps: int = 6, size: int = 32):
    torch.manual_seed(0)
    frames = torch.rand(batch, steps, 3, size, size)
    masks = torch.rand(batch, steps, 1, size, size) > 0.7
    days = torch.tensor([[0.0, 5, 10, 30, 35, 60][:steps]] * batch)
    return frames, masks, days


def test_shape_and_initial_output_is_the_affine_fill():
    model = TemporalFiller(widths=(8, 8, 16)).eval()
    frames, masks, days = inputs()
    with torch.no_grad():
        output = model(frames, masks, days)
    assert output.shape == frames.shape
    assert torch.allclose(output, affine_fill(frames, masks, days))


def test_dates_and_masks_change_the_prediction():
    model = TemporalFiller(widths=(8, 8, 16)).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    frames, masks, days = inputs()
    with torch.no_grad():
        reference = model(frames, masks, days)
        shifted_dates = model(frames, masks, days * 3)
        other_masks = model(frames, torch.roll(masks, 1, dims=1), days)
    assert not torch.allclose(reference, shifted_dates)
    assert not torch.allclose(reference, other_masks)


def test_any_sequence_length_and_gradients_reach_every_layer():
    model = TemporalFiller(widths=(8, 8, 16))
    torch.nn.init.normal_(model.head.weight, std=0.1)
    for steps in (2, 3, 6):
        frames, masks, days = inputs(batch=1, steps=steps)
        model(frames, masks, days).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_sizes_that_do_not_divide_are_refused():
    frames, masks, days = inputs(size=36)
    with pytest.raises(ValueError, match="divisible by 8"):
        TemporalFiller()(frames, masks, days)

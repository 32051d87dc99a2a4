"""Stage 1 network shapes and the size rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clear_vision import CloudDetector
from clear_vision.detector import whiteness_test


def test_output_shape_is_two_logits_per_pixel():
    model = CloudDetector(widths=(4, 8, 8)).eval()
    with torch.no_grad():
        logits = model(torch.rand(3, 3, 64, 96))
    assert logits.shape == (3, 2, 64, 96)
    assert model.size_multiple == 4


def test_sizes_that_do_not_divide_are_refused():
    with pytest.raises(ValueError, match="divisible by 16"):
        CloudDetector()(torch.rand(1, 3, 40, 40))


def test_fused_inference_copy_gives_the_same_logits():
    torch.manual_seed(0)
    model = CloudDetector(widths=(4, 8, 8))
    model.train()
    model(torch.rand(4, 3, 32, 32))  # move the BatchNorm running statistics away from their defaults
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.fused()(x), model(x), atol=1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched


def test_whiteness_test_flags_bright_grey_not_bright_colour():
    frames = np.array([[[[230, 230, 235], [250, 200, 60], [40, 60, 30]]]], np.uint8)
    assert whiteness_test(frames).tolist() == [[[True, False, False]]]

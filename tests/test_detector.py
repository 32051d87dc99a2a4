"""Stage 1 network: shapes, input channels, the size rule, the fused inference copy."""

from __future__ import annotations

import pytest
import torch

from clear_vision import CloudDetector
from clear_vision.detection.detector import SplitMerge


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
    fused = model.fused()
    assert sum(isinstance(m, SplitMerge) for m in fused.modules()) == len(model.up)  # no concatenated copies in use
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    # the split convs sit where the network's weights do (they were made on the CPU, beside a CUDA model)
    assert {(p.device, p.dtype) for p in model.double().fused().parameters()} == {(torch.device("cpu"), torch.float64)}


def test_temporal_detector_takes_seven_channels_and_refuses_others():
    model = CloudDetector(widths=(4, 8, 8), in_channels=7).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 7, 32, 32)).shape == (2, 2, 32, 32)
    assert model.config == {"widths": [4, 8, 8], "in_channels": 7}
    with pytest.raises(ValueError, match="built for 7 input channels, got 3"):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="in_channels: 5"):
        CloudDetector(in_channels=5)

"""The public API with the shipped weights: shapes, composition, sizes, lengths, edge cases, devices."""

from __future__ import annotations

import datetime as dt
import pickle
import re
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from clear_vision import ClearVision, CloudRemovalOutput, pipeline, resolve_device
from clear_vision.detection.masks import detected_masks
from clear_vision.io.decode import parse_dates

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
HELD_OUT = SHARED / "s2_timeseries/greenearthnet/MJJ2021_replicated_minicube_225_34TET_47.37_22.05.nc"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "romania_2019_summer"


@pytest.fixture(scope="module")
def model() -> ClearVision:
    return ClearVision.load(device="cpu")


def scene(steps: int = 6, height: int = 128, width: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth fields with a slow change over time: a stand-in landscape with real structure."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / 16.0
    base = np.stack([np.sin(x + c) * np.cos(y * 0.7 - c) for c in range(3)], -1) * 0.2 + 0.35
    frames = [np.clip(base + 0.01 * t + rng.normal(0, 0.01, base.shape), 0, 1) for t in range(steps)]
    return np.round(np.stack(frames) * 255).astype(np.uint8)


def test_run_returns_the_documented_result(model):
    frames = scene()
    result = model.run(frames)
    assert isinstance(result, CloudRemovalOutput)
    assert result.frames.shape == frames.shape and result.frames.dtype == np.uint8
    assert result.masks.shape == frames.shape[:3] and result.masks.dtype == bool
    assert result.probability.dtype == np.float32 and 0 <= result.probability.min() <= result.probability.max() <= 1
    assert model.fill_threshold < model.threshold  # the shipped operating points (training.calibrate)
    detected = model.detect(frames)
    assert (result.masks >= detected).all() and result.masks.sum() > detected.sum()
    assert result.cloud_cover.shape == (6,) and result.seconds > 0


def test_fill_changes_only_masked_pixels(model):
    frames = scene()
    masks = np.zeros(frames.shape[:3], bool)
    masks[2, 30:90, 20:100] = True
    masks[4, :, :50] = True
    result = model.fill(frames, masks, dates=["2021-05-01", "2021-05-06", "2021-05-11", "2021-05-21", "2021-05-26", "2021-06-10"])
    assert np.array_equal(result.frames[~masks], frames[~masks])
    assert np.abs(result.frames[masks].astype(int) - frames[masks]).mean() < 20  # filled from similar dates


def test_run_keeps_unmasked_pixels_exactly(model):
    frames = scene(seed=3)
    frames[1, 40:80, 40:80] = 250  # a bright blob
    result = model.run(frames)
    assert np.array_equal(result.frames[~result.masks], frames[~result.masks])


@pytest.mark.parametrize("size", [(32, 32), (45, 77), (300, 260)])
def test_sizes_other_than_128(model, size):
    frames = scene(5, *size)
    masks = np.zeros(frames.shape[:3], bool)
    masks[2, size[0] // 4 : size[0] // 2, size[1] // 4 : size[1] // 2] = True
    result = model.fill(frames, masks)
    assert result.frames.shape == frames.shape
    assert np.array_equal(result.frames[~masks], frames[~masks])


@pytest.mark.parametrize("steps", [2, 23])
def test_short_and_long_sequences(model, steps):
    frames = scene(steps, 64, 64)
    masks = np.zeros(frames.shape[:3], bool)
    masks[steps // 2, 10:40, 10:40] = True
    result = model.fill(frames, masks, dates=list(range(1, steps * 5, 5)))  # day-of-year numbers
    assert result.frames.shape == frames.shape
    assert np.abs(result.frames[masks].astype(int) - frames[masks]).mean() < 20


def test_no_cloud_returns_the_input(model):
    frames = scene()
    result = model.fill(frames, np.zeros(frames.shape[:3], bool))
    assert np.array_equal(result.frames, frames) and result.warnings == ()


def test_everything_cloudy_returns_the_input_with_a_warning_in_the_result(model):
    frames = scene()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # returned, not raised: callers need not silence them
        result = model.fill(frames, np.ones(frames.shape[:3], bool))
    assert np.array_equal(result.frames, frames)
    assert result.unfilled.all() and "no clear observation" in result.warnings[0]


def test_one_clear_pixel_fills_only_that_pixel_position(model):
    frames = scene()
    masks = np.ones(frames.shape[:3], bool)
    masks[0, 5, 7] = False
    result = model.fill(frames, masks)
    changed = (result.frames != frames).any(axis=-1)
    assert not changed[:, np.arange(128) != 5].any() and not changed[:, :, np.arange(128) != 7].any()
    assert result.unfilled.sum() == masks.sum() - masks[:, 5, 7].sum()
    assert result.warnings == (f"{128 * 128 - 1} pixel(s) have no clear date (cloud or shadow on every date with data): left as they are",)


def test_black_no_data_pixels_are_masked_by_run_but_not_detected_as_cloud(model):
    frames = scene()
    frames[3, :20, :20] = 0
    assert model.run(frames).masks[3, :20, :20].all()
    assert not model.detect(frames)[3, :20, :20].any()


@pytest.mark.parametrize("method", ["learned", "linear", "nearest", "affine", "whittaker", "blend"])
def test_fill_never_copies_no_data_and_fills_it(method):
    """Black swath edges on other dates are not sources (every filler once copied them: linear
    filled a gap pure black), and are filled as `run` fills them."""
    frames = scene(steps=5, height=64, width=64)
    truth = frames.copy()
    frames[1:3, 10:40, 10:40] = 0
    masks = np.zeros(frames.shape[:3], bool)
    masks[0, 15:35, 15:35] = True
    result = ClearVision.load(method=method, device="cpu").fill(frames, masks)
    error = np.abs(result.frames[0, 15:35, 15:35].astype(float) - truth[0, 15:35, 15:35]).mean()
    assert error < 10
    assert result.masks[1:3, 10:40, 10:40].all() and (result.mask_class[1:3, 10:40, 10:40] == 255).all()
    assert result.frames[1:3, 10:40, 10:40].min() > 0
    assert np.array_equal(result.frames[~result.masks], frames[~result.masks])


def test_load_takes_the_bundle_file_for_its_folder_and_config_must_be_a_config(tmp_path):
    model = ClearVision.load(ROOT / "model_dict" / "clear_vision.json", device="cpu", method="linear")
    assert model.config == ClearVision.load(device="cpu", method="linear").config
    with pytest.raises(ValueError, match="config: a dict is not a ClearVisionConfig; change settings with cv.config = cv.config.replace"):
        model.config = {"fill_threshold": 0.4}
    model.config = model.config.replace(fill_threshold=np.float32(0.4))
    assert model.fill_threshold == 0.4


def test_result_prints_short_and_compares_by_identity():
    result = ClearVision.load(method="linear", device="cpu").fill(scene(steps=3, height=32, width=32), np.zeros((3, 32, 32), bool))
    assert repr(result) == f"CloudRemovalOutput(frames=(3, 32, 32, 3) uint8, method='linear', cloud_cover=[0%, 0%, 0%], seconds={result.seconds:.2f}, warnings=0)"
    assert result == result and result != replace(result)
    assert "cloud_cover=[<1%, >99%]" in repr(replace(result, cloud_cover=np.array([0.004, 0.996])))
    blank = ClearVision.load(method="linear", device="cpu").fill(np.zeros((3, 32, 32, 3), np.uint8), np.zeros((3, 32, 32), bool))
    assert "no pixel of any frame has data (pure black, or transparent): nothing to detect or fill, input returned unchanged" in blank.warnings


def test_detect_raises_the_notes_run_returns(model):
    """detect returns masks alone: a dark stack gave no word that clouds could not be seen in it."""
    with pytest.warns(UserWarning, match=r"the frames are dark \(typical pixel 10 of 255"):
        model.detect(np.full((3, 40, 40, 3), 10, np.uint8))


def test_notes_on_the_dates_are_returned_not_raised(model):
    frames = scene(steps=4, height=32, width=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = model.run(frames, dates=["2021-01-01"] * 4)
        filled = model.fill(frames, np.zeros(frames.shape[:3], bool), dates=[10, 9, 8, 7])
    assert any(note.startswith("dates: all 4 frames have one date") for note in result.warnings)
    assert any(note.startswith("dates: day 9 (date 2) follows day 10") for note in filled.warnings)


def test_classical_methods_and_bad_method(model):
    frames = scene()
    masks = np.zeros(frames.shape[:3], bool)
    masks[2, 20:60, 20:60] = True
    for method in ("linear", "nearest", "affine"):
        result = ClearVision.load(method=method, device="cpu").fill(frames, masks)
        assert result.method == method and np.array_equal(result.frames[~masks], frames[~masks])
    with pytest.raises(ValueError, match="not one of learned, linear, nearest, affine"):
        ClearVision.load(method="cubic")
    assert repr(ClearVision.load(method="linear", device="cpu", precision="float32")) == (
        "ClearVision(method='linear', device='cpu', precision='float32' (float32 here), threshold=0.5, fill_threshold=0.2)"
    )


def test_device_selection():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            ClearVision.load(device="cuda")


def test_precision_bfloat16_detects_as_float32_does(monkeypatch):
    """bfloat16 stage 1 (the default on CPUs with native bfloat16) gives float32's masks but for a few edge pixels."""
    frames = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in sorted(EXAMPLE.glob("*.png"))])
    exact, fast = ClearVision.load(device="cpu", precision="float32"), ClearVision.load(device="cpu", precision="bfloat16")
    assert not exact.bfloat16 and fast.bfloat16
    days = parse_dates(None, len(frames))
    assert np.abs(exact._detect(frames, days).probability - fast._detect(frames, days).probability).max() < 0.1
    assert np.mean(exact.run(frames).masks == fast.run(frames).masks) > 0.999
    monkeypatch.setattr("clear_vision.pipeline._native_cpu_bfloat16", lambda: False)
    assert not ClearVision.load(device="cpu").bfloat16  # "auto" stays float32 where bfloat16 would be emulated
    with pytest.raises(ValueError, match="precision: 'half' is not one of auto, float32, bfloat16"):
        ClearVision.load(precision="half")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(model):
    frames = scene()
    gpu = ClearVision.load(device="cuda").run(frames)
    assert np.mean(gpu.masks == model.run(frames).masks) > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("made_by", ["load", "unpickling"])
def test_cuda_first_fills_may_come_from_several_threads_at_once(made_by, tmp_path):
    """Dask runs chunks in threads; a fresh process's first CUDA solves must not race (pytorch#90613),
    whether the pipeline was loaded there or unpickled there (as on a Dask worker)."""
    pickled = tmp_path / "model.pickle"
    if made_by == "unpickling":
        save = f"import pickle; from clear_vision import ClearVision; open({str(pickled)!r}, 'wb').write(pickle.dumps(ClearVision.load(device='cuda')))"
        subprocess.run([sys.executable, "-c", save], check=True, cwd=ROOT, timeout=300)
    make = f"pickle.loads(open({str(pickled)!r}, 'rb').read())" if made_by == "unpickling" else "ClearVision.load(device='cuda')"
    script = (
        "import pickle\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "import numpy as np\n"
        "from clear_vision import ClearVision\n"
        f"model = {make}\n"
        "frames = np.random.default_rng(0).integers(0, 255, (4, 10, 64, 64, 3), dtype=np.uint8)\n"
        "masks = np.zeros((10, 64, 64), bool); masks[3, 10:40, 10:40] = True\n"
        "with ThreadPoolExecutor(4) as pool:\n"
        "    list(pool.map(lambda sequence: model.fill(sequence, masks), frames))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_run_and_fill_report_progress_from_0_to_1_in_order(model):
    """The documented callback: fractions that never go back, from the decoding at 0 to "done" at 1."""
    frames = scene()
    masks = np.zeros(frames.shape[:3], bool)
    masks[2, 20:60, 20:60] = True
    for call in (lambda report: model.run(frames, progress=report), lambda report: model.fill(frames, masks, progress=report)):
        calls = []
        call(lambda fraction, step: calls.append((fraction, step)))
        fractions = [fraction for fraction, _ in calls]
        assert calls[0] == (0.0, "decoding") and calls[-1] == (1.0, "done") and fractions == sorted(fractions), calls


def test_dark_frames_get_a_note_naming_the_likely_cause(model):
    """Sentinel-2 digital numbers as uint16 pictures, or plain reflectance as floats, miss clouds: the
    result must say why, also when one bright cloud lights a pixel (the brightest alone kept it silent)."""
    frames = scene().astype(np.uint32)
    digital_numbers = (frames * 3333 // frames.max()).astype(np.uint16)  # DN up to 3333 (reflectance 0.33): 13 of 255 as a picture
    digital_numbers[2, 40:70, 40:80] = 9500  # a bright cloud: 37 of 255
    notes = model.run(digital_numbers).warnings
    assert any("frames are dark (typical pixel" in note and "brightest 37)" in note and "remove_cube" in note for note in notes), notes
    reflectance = scene().astype(np.float32) / 255 * 0.15  # reflectance 0.02..0.08, as of forest, read as a picture over 0..1
    assert any("clip(reflectance x 3" in note for note in model.run(reflectance).warnings)
    assert not any("frames are dark" in note for note in model.run(scene()).warnings)


def test_frames_without_colour_get_a_note(model):
    """Grayscale pictures (or one band three times) lose the colour stage 1 reads; a white overcast series is grey and says nothing."""
    grey = np.repeat(scene().mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    colourless = "the frames have no colour"
    assert any(colourless in note for note in model.run(grey).warnings)
    assert not any(colourless in note for note in model.run(scene()).warnings)
    assert not any(colourless in note for note in model.run(np.full((4, 64, 64, 3), 240, np.uint8)).warnings)


def test_an_unpickled_pipeline_runs_as_the_original(model):
    """Dask workers get the pipeline pickled: settings, networks and results must survive."""
    frames = scene()
    frames[2, 30:70, 30:90] = 245
    copy = pickle.loads(pickle.dumps(model))
    assert copy.config == model.config and copy.device == model.device and copy.method == model.method
    np.testing.assert_array_equal(copy.run(frames).frames, model.run(frames).frames)


@pytest.mark.skipif(not HELD_OUT.is_file(), reason="needs ../shared/data (held-out GreenEarthNet cube)")
def test_learned_fill_beats_linear_on_the_held_out_site(model):
    from preprocess.gaps import make_gap_sequence
    from preprocess.readers import read_cube
    from preprocess.rgb import BENCHMARK_GAIN, render_rgb
    from training.metrics import masked_errors

    cube = read_cube(HELD_OUT)
    rng = np.random.default_rng(123)
    linear = ClearVision.load(method="linear", device="cpu")
    gains = []
    for _ in range(12):
        sequence = make_gap_sequence(cube, rng, int(rng.integers(5, 11)))
        frames, truth = render_rgb(sequence.cloudy, BENCHMARK_GAIN), render_rgb(sequence.truth, BENCHMARK_GAIN)
        dates = [dt.date(2021, 1, 1) + dt.timedelta(days=int(day)) for day in sequence.days]
        ours = masked_errors(model.fill(frames, sequence.mask, dates).frames, truth, sequence.scored)["psnr"]
        reference = masked_errors(linear.fill(frames, sequence.mask, dates).frames, truth, sequence.scored)["psnr"]
        gains.append(ours - reference)
    assert np.mean(gains) > 0.2, f"learned fill gains {np.mean(gains):.2f} dB over linear on the held-out site"


def test_detect_reports_without_buffer_and_run_fills_with_it(model):
    frames = scene()
    frames[2, 60:70, 60:70] = 250  # bright grey square: certainly cloud
    frames[4, 10:20, 10:20] = 0  # no-data square: always masked, but not cloud
    detected = model.detect(frames)
    result = model.run(frames)
    assert detected[2, 60:70, 60:70].all() and not detected[2, 58, 58] and not detected[2, 71, 71]
    buffer = model.config.mask_buffer_px
    assert result.masks[2, 60 - buffer : 70 + buffer, 60 - buffer : 70 + buffer].all()
    assert (result.mask_class[2, 60:70, 60:70] == 1).all() and (result.mask_class[~result.masks] == 0).all()
    assert (result.mask_class[4, 10:20, 10:20] == 255).all()
    assert set(np.unique(result.mask_class[result.masks & (result.mask_class != 255)])) <= {1, 2}


def test_a_no_data_border_does_not_mask_the_ground_beside_it(model):
    """A scene's reprojection border (black on every date) once read as the edge of a shadow."""
    frames = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in sorted(EXAMPLE.glob("*.png"))])
    bordered = np.pad(frames, ((0, 0), (6, 6), (6, 6), (0, 0)))
    result = model.run(bordered)
    masks, bordered_masks = model.run(frames).masks, result.masks
    assert any(note.endswith("pixel(s) have no data on any date: left as they are") for note in result.warnings)
    ring = np.ones(frames.shape[1:3], bool)
    ring[3:-3, 3:-3] = False  # the 3 pixels beside the border
    assert bordered_masks[:, :6].all() and bordered_masks[:, :, -6:].all()
    assert bordered_masks[:, 6:-6, 6:-6][:, ring].mean() <= masks[:, ring].mean() + 0.05


def test_dates_without_data_do_not_change_the_dates_with_data(model):
    """A daily grid (a GreenEarthNet cube) is mostly days between acquisitions: black frames.
    Windowed by position they crowded stage 2's windows and stage 1's references, and overcast
    dates found nothing to fill from; now the observed dates come out as they do alone."""
    frames = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in sorted(EXAMPLE.glob("*.png"))])
    days = np.arange(len(frames)) * 5.0
    daily = np.zeros((int(days[-1]) + 1, *frames.shape[1:]), np.uint8)  # 46 days, 10 observed
    daily[days.astype(int)] = frames
    observed = days.astype(int)
    alone, grid = model.run(frames, days), model.run(daily, np.arange(len(daily), dtype=float))
    assert np.array_equal(grid.frames[observed], alone.frames) and np.array_equal(grid.masks[observed], alone.masks)
    assert np.array_equal(model.detect(daily, np.arange(len(daily), dtype=float))[observed], model.detect(frames, days))
    empty = np.setdiff1d(np.arange(len(daily)), observed)
    assert grid.masks[empty].all() and (grid.mask_class[empty] == 255).all()
    assert (grid.frames[empty].max(axis=-1) > 0).mean() > 0.99  # filled from the observed dates


def test_a_long_run_of_overcast_dates_is_filled_from_the_clear_dates_beyond_it(model):
    """Windowed by position, the dates in the middle of 10 overcast ones had a window without any
    clear date and came back as they were: white (a WorldCereal series, 75 % of a date)."""
    example = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in sorted(EXAMPLE.glob("*.png"))])
    frames = np.concatenate([example[:5], np.full((10, *example.shape[1:]), 250, np.uint8), example[5:]])
    result = model.run(frames, np.arange(len(frames)) * 5.0)
    assert result.masks[5:15].all()
    assert (result.frames[5:15].min(axis=-1) > 200).mean() < 0.01  # ground, not cloud
    masks = np.zeros(frames.shape[:3], bool)
    masks[5:15] = True
    masks[:5, 40:60, 40:60] = True  # a block that the first overcast dates' window (dates 1..5 beside them) does not show
    filled = model.fill(frames, masks, np.arange(len(frames)) * 5.0)
    assert (filled.frames[5:15].min(axis=-1) > 200).mean() < 0.01
    assert np.array_equal(filled.frames[5:10, 40:60, 40:60], np.broadcast_to(frames[15, 40:60, 40:60], (5, 20, 20, 3)))  # from the next clear date


def test_two_frames_and_unrelated_frames_run(model):
    frames = scene(2)
    frames[0, 20:60, 20:60] = 245
    result = model.run(frames)
    assert result.masks[0, 25:55, 25:55].all() and not result.masks[1, 25:55, 25:55].all()
    unrelated = np.stack([scene(1, seed=seed)[0][::-1] if seed % 2 else scene(1, seed=seed)[0] for seed in range(4)])
    unrelated[1, 10:40, 10:40] = 245
    assert model.detect(unrelated)[1, 15:35, 15:35].all()


def test_detect_reports_cloud_and_adds_shadow_when_asked(model):
    frames = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in sorted(EXAMPLE.glob("*.png"))])
    cloud, cloud_or_shadow = model.detect(frames), model.detect(frames, shadow=True)
    added = cloud_or_shadow & ~cloud
    assert (cloud_or_shadow >= cloud).all() and added.sum() > 1000  # the example's cloud shadows
    assert (model.run(frames).mask_class[added] == 2).all()  # what `run` fills as shadow
    assert frames[added].mean() < frames.mean() / 2  # dark ground, not cloud


def test_detect_takes_a_single_frame_and_run_refuses_it(model):
    frame = np.asarray(Image.open(sorted(EXAMPLE.glob("*.png"))[0]).convert("RGB"))[None].copy()  # a clear summer date of the example
    frame[0, 10:40, 10:40] = 245
    detected = model.detect(frame)  # no other date: the frame is judged on its own
    assert detected.shape == frame.shape[:3] and detected[0, 15:35, 15:35].all()
    assert not detected[0, 60:].any() and not detected[0, :, 60:].any()  # the clear ground away from it stays clear
    image = frame[0]  # one image as a harness cutting a scene into tiles may give it: its (H,W) mask
    for given in (image, image.transpose(2, 0, 1), Image.fromarray(image)):
        assert np.array_equal(model.detect(given), detected[0])
    assert np.array_equal(model.detect(image, dates="2021-05-01"), detected[0])
    with pytest.raises(ValueError, match="got 2 dates for 1 frames"):
        model.detect(image, dates=["2021-05-01", "2021-05-06"])
    edge_tile = image[:, :77]  # a scene's tiles with a narrower one from its edge: judged each alone, a list back
    ragged = model.detect([image, edge_tile, Image.fromarray(image)])
    assert isinstance(ragged, list) and [mask.shape for mask in ragged] == [(100, 100), (100, 77), (100, 100)]
    assert np.array_equal(ragged[0], detected[0]) and np.array_equal(ragged[1], model.detect(edge_tile))
    with pytest.raises(ValueError, match="needs 2 to 100 frames"):
        model.run(frame)


@pytest.mark.parametrize("series", [True, False])
def test_detect_on_many_frames_goes_block_by_block_with_the_same_answer(model, monkeypatch, series):
    frames = np.concatenate([scene(10, 64, 64, seed=seed) for seed in range(3)])  # 30 frames
    frames[::4, 10:30, 10:30] = 245
    days = np.cumsum(np.random.default_rng(0).integers(1, 20, len(frames)))  # uneven gaps: nearest in time
    whole = model.detect(frames, days, series=series)
    monkeypatch.setattr(pipeline, "_DETECT_BLOCK_FRAMES", 7)
    assert np.array_equal(model.detect(frames, days, series=series), whole) and whole[::4, 15:25, 15:25].all()


def test_detect_judges_unrelated_tiles_each_on_its_own_when_asked(model):
    frames = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in sorted(EXAMPLE.glob("*.png"))])
    alone = model.detect(frames, series=False)
    assert np.array_equal(alone, np.concatenate([model.detect(frame[None]) for frame in frames]))
    assert not np.array_equal(alone, model.detect(frames))  # as a series, the other dates change the answer
    assert np.array_equal(model.detect(frames), model.detect(frames, series=True))  # and a series is what it is taken for


def test_detect_tells_a_scenes_tiles_from_a_series_by_itself(model):
    """Tiles of different places given together, as a scene's are, are judged each alone without series=False."""
    fields = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(10, 96, 96)), sigma=(0, 1.5, 1.5))  # each tile a ground of its own
    green = 100 + 40 * fields / fields.std()
    tiles = np.clip(np.stack([green - 30, green, green - 50], -1), 0, 255).astype(np.uint8)
    tiles[3, 20:60, 20:70] = 240
    assert np.array_equal(model.detect(tiles), model.detect(tiles, series=False))
    assert not np.array_equal(model.detect(tiles, series=True), model.detect(tiles, series=False))
    unrelated = "frames do not look like one place's time series"
    assert any(unrelated in note for note in model.run(tiles).warnings)  # run fills them from one another: it says so
    assert not any(unrelated in note for note in model.run(scene(10)).warnings)
    with pytest.raises(ValueError, match="series: 'yes' is not True"):
        model.detect(tiles, series="yes")
    with pytest.raises(ValueError, match="series: 1 is not True"):  # 1 == True, but a flag is meant
        model.detect(tiles, series=1)
    assert np.array_equal(model.detect(tiles, series=np.False_), model.detect(tiles, series=False))  # np.False_ is not False: it was taken for a series
    with pytest.raises(ValueError, match=r"shadow: 'no' is not True \(cloud or cloud shadow\) or False"):
        model.detect(tiles, shadow="no")


def test_detect_takes_a_scenes_tiles_beyond_the_sequence_limit(model):
    tiles = np.repeat(np.asarray(Image.open(sorted(EXAMPLE.glob("*.png"))[0]).convert("RGB"))[None, :32, :32], 101, axis=0)
    tiles[50, 4:28, 4:28] = 245  # one tile with a white cloud
    detected = model.detect(tiles)
    assert detected.shape == tiles.shape[:3] and detected[50, 8:24, 8:24].all() and not detected[:50].any()
    with pytest.raises(ValueError, match="at most 100 are accepted per call"):
        model.run(tiles)


def test_a_date_string_list_of_the_wrong_length_is_refused(model):
    with pytest.raises(ValueError, match="dates"):
        model.detect(scene(3), dates=["2021-05-01"])


def test_large_scenes_run_chunk_by_chunk_and_agree_with_one_pass(model):
    """608 px: four chunks (512 px + 64 px halo). A chunk's networks tile its 576 px, the one pass
    tiles 608 px, so they agree up to the tiles' blending (probability 0.003 apart on average)
    and where the whole-frame rule and the fillers' colour match, which see a chunk's frames,
    decide otherwise. Within the first chunk's core, away from the others, the masks agree."""
    from benchmarks.synthetic import synthetic_sequence

    frames, _ = synthetic_sequence(2, 608, 608, seed=1)
    days = parse_dates(None, len(frames))
    chunked, whole = model.run(frames), model.process_chunk(frames, days)
    assert chunked.probability.dtype == np.float16 and whole.probability.dtype == np.float32
    inside = (slice(None), slice(0, 224), slice(0, 224))
    assert (chunked.masks[inside] == whole.masks[inside]).mean() > 0.99
    assert np.abs(chunked.frames[inside].astype(int) - whole.frames[inside]).mean() < 1.0
    assert np.abs(chunked.probability - whole.probability).mean() < 0.01
    assert (chunked.masks == whole.masks).mean() > 0.9 and chunked.masks.any()
    assert np.array_equal(chunked.frames[~chunked.masks], frames[~chunked.masks])
    assert np.array_equal(chunked.unfilled, chunked.masks & chunked.masks.all(axis=0))
    config = model.config
    assert (model.detect(frames, shadow=True) == detected_masks(whole.probability, config.threshold, config.min_cloud_px)).mean() > 0.99
    filled = model.fill(frames, chunked.masks)
    assert np.array_equal(filled.frames[~chunked.masks], frames[~chunked.masks]) and filled.probability.dtype == np.float16


def test_frames_replaced_whole_though_partly_detected_are_named_in_a_note(model):
    """The bundled example's 2019-07-11 (37 % detected, hazy rest) and 2019-07-16 (62 %) come back
    100 % masked: the note says which rule did it and how to keep such dates; given masks, no note."""
    frames = sorted(EXAMPLE.glob("*.png"))
    result = model.run(frames)
    notes = [note for note in result.warnings if "replaced whole" in note]
    assert len(notes) == 1 and re.match(r"frame\(s\) 6 \(\d+% detected\), 7 \(\d+% detected\) \(counting from 1\) replaced whole", notes[0])
    assert "fill threshold (now 0.2)" in notes[0] and result.cloud_cover[5] == result.cloud_cover[6] == 1.0
    assert not any("replaced whole" in note for note in model.fill(frames, result.masks).warnings)
    top = ClearVision(model.detector, model.filler, config=model.config.replace(fill_threshold=0.95))  # the app's highest: no advice it cannot follow
    notes = [note for note in top.run(frames).warnings if "replaced whole" in note]
    assert len(notes) == 1 and "higher fill threshold" not in notes[0]

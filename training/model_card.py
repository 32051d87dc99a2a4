"""Write model_dict/MODEL_CARD.md: the written notes, then the bundle's config, the weights' training records and the evaluation."""

from __future__ import annotations

import json
from pathlib import Path

from dataclasses import asdict

from clear_vision.config import CONFIG_NAME, DEFAULT_WEIGHTS_DIR, ClearVisionConfig
from clear_vision.weights import read_header

from .calibrate import CALIBRATION_NAME

__all__ = ["CARD_NAME", "write_model_card"]

CARD_NAME = "MODEL_CARD.md"
NOTES = Path(__file__).with_name("model_card_notes.md")  # the written part: data, held-out sites, choices, limits


def write_model_card(weights_dir: Path, evaluation_table: str) -> Path:
    weights_dir = Path(weights_dir)
    if weights_dir.resolve() == DEFAULT_WEIGHTS_DIR.resolve():  # the notes tell the shipped bundle's story
        sections = [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    else:  # a bundle trained anew: its numbers, without the shipped one's narrative (it contradicted them)
        sections = [
            "# Clear Vision model card (a bundle trained anew)",
            "",
            "The choices, data and held-out history of the shipped bundle are in the project's model_dict/MODEL_CARD.md; "
            "below are this bundle's settings, training records and evaluation.",
            "",
        ]
    config = ClearVisionConfig.load(weights_dir)
    calibration_path = weights_dir / CALIBRATION_NAME
    calibration = json.loads(calibration_path.read_text()) if calibration_path.is_file() else None
    sections += [
        f"## Bundle: `{CONFIG_NAME}`",
        "",
        f"- stage 1 operating points: `detect` at probability {config.threshold:g}; `run` fills from {config.fill_threshold:g} up,"
        f" masks a frame whole from {config.full_cover:g} masked, drops detections under {config.min_cloud_px} px and grows the rest by {config.mask_buffer_px} px",
        f"- stage 2 window: {config.window} frames",
        f"- preprocessing: `{json.dumps(asdict(config.preprocessing))}`",
    ]
    if calibration is not None:
        sections.append(f"- chosen on training-site sequences by `python -m training.calibrate` (the shadow offset by cloud-or-shadow F1 on training samples, the rest by mean `run` PSNR of training-series gap sequences, per candidate): `{json.dumps(calibration['scores'])}`")
        if "detector_per_site" in calibration:
            sections.append(f"- the detector that ran each calibration site (`--cross-fit`: one trained without that site): `{json.dumps(calibration['detector_per_site'])}`")
    sections.append("")
    for role in ("detector", "filler"):
        spec = getattr(config, role)
        if spec is None:
            continue
        training = read_header(weights_dir / spec.file).get("training", {})
        sections += [
            f"## {role}: `{spec.file}` ({spec.architecture})",
            "",
            f"- architecture config: `{json.dumps(spec.config)}`",
            f"- sha256 (verified at load): `{spec.sha256}`",
            f"- training command: `{training.get('command', '?')}` (after `python -m preprocess build`)",
            f"- training time: {training.get('minutes', '?')} min wall clock on {training.get('hardware', '2 CPU cores')}",
            f"- training config: `{json.dumps(training.get('config'))}`",
            f"- validation during training (held-out, monitoring only): `{json.dumps(training.get('history', [])[-3:])}`",
            "",
        ]
    sections += ["## Evaluation (`python -m training.evaluate --card`)", "", "```", evaluation_table, "```", ""]
    card = weights_dir / CARD_NAME
    card.write_text("\n".join(sections), encoding="utf-8")
    return card

"""The protocol of BENCHMARK.md on the held-out sites: python -m training.evaluate [--card].

Cloud removal: masked PSNR / MAE / RMSE of `fill` (true masks) and `run` (own masks) next to
the classical fillers. Cloud detection: precision / recall / F1 / IoU of stage 1 against
reference masks (shadow not scored) next to a brightness threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clear_vision import ClearVision
from clear_vision.config import CONFIG_NAME, ClearVisionConfig
from clear_vision.pipeline import resolve_device
from clear_vision.filling.classical import CLASSICAL_FILLERS
from preprocess.sets import DEFAULT_DATA, DEFAULT_OUT, REMOVAL_HELD_OUT, sequences_by_site

from .contact_sheets import write_contact_sheets
from .score_detection import detection_table, format_detection_table, format_run_mask_errors, run_mask_errors
from .score_removal import colour_oracle_scores, format_removal_table, removal_scores_by_site

__all__ = ["evaluate", "main", "MODEL_DIR"]

MODEL_DIR = Path(__file__).resolve().parent.parent / "model_dict"


def main_method(weights: Path) -> str:
    """The filler `run` is scored with: the bundle's learned one, or for a bundle without a filler
    (a fold, or after `train_mask` alone) the best classical row, "blend"."""
    return "learned" if ClearVisionConfig.load(weights).filler is not None else "blend"


def evaluate(data: Path, weights: Path, device: str | None = None) -> dict:
    method = main_method(weights)
    models = {name: ClearVision.load(weights, device=device, method=name) for name in (*(("learned",) if method == "learned" else ()), *CLASSICAL_FILLERS)}
    pipeline = models[method]  # the bundle as `ClearVision.load` runs it, or with "blend" where it has no filler
    sites = sequences_by_site(data / "removal_val.npz")
    sequences = [sequence for site in sites.values() for sequence in site]
    removal = removal_scores_by_site(models, sites)  # every filler, fill and run: pooled and per site
    oracle = {site: colour_oracle_scores(models["linear"], site_sequences) for site, site_sequences in [("pooled", sequences), *sites.items()]}
    detection = detection_table(pipeline, data / "detector_val.npz")
    mask_errors = {site: run_mask_errors(pipeline, site_sequences) for site, site_sequences in sites.items()}
    by_site = {"removal_by_site": removal, "oracle_by_site": oracle}
    return {
        "removal": removal.pop("pooled"), "colour_oracle": oracle.pop("pooled"), **by_site, "detection": detection, "run_masks": mask_errors,
        "sequences": len(sequences), "data": str(data), "sites": sorted(sites),  # what was scored: the project's held-out sets, or a user's
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="folder with removal_val.npz and detector_val.npz")
    parser.add_argument("--weights", type=Path, default=MODEL_DIR, help="the bundle it evaluates (default: the shipped model_dict; runs/bundle is the training commands' own)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when there is one)")
    parser.add_argument("--card", action="store_true", help="save evaluation.json and rewrite MODEL_CARD.md with the numbers, in the --weights folder")
    parser.add_argument("--sheets", type=Path, help="also render contact sheets of real cloudy held-out sequences into this folder (read from --shared)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_DATA, help=f"the shared data folder, for --sheets (default: {DEFAULT_DATA})")
    args = parser.parse_args(argv)
    for name in ("removal_val.npz", "detector_val.npz"):
        if not (args.data / name).is_file():
            parser.error(f"{args.data / name} not found; run `python -m preprocess build` first")
    if not (args.weights / CONFIG_NAME).is_file():
        parser.error(f"--weights: {args.weights / CONFIG_NAME} not found; give a bundle folder (model_dict, or one the training commands wrote)")
    try:
        resolve_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    if ClearVisionConfig.load(args.weights).detector is None:
        parser.error(f"--weights: {args.weights} has no detector; the evaluation runs stage 1 (train one with `python -m training.train_mask --out {args.weights}`)")
    method = main_method(args.weights)
    if method != "learned":
        print(f"note: {args.weights} has no filler (stage 2): its detector is scored, and `run` with the classical filler 'blend'")
    missing = [relative for relative in REMOVAL_HELD_OUT if not (args.shared / relative).exists()] if args.sheets else []
    if missing:  # found at the end, after minutes of evaluation and a rewritten card
        parser.error(f"--sheets: {args.shared / missing[0]} not found; give --shared the shared data folder (default {DEFAULT_DATA})")
    results = evaluate(args.data, args.weights, args.device)
    tables = [format_removal_table(results["removal"], results["colour_oracle"], "held-out sites pooled")]
    tables += [format_removal_table(scores, results["oracle_by_site"][site], site) for site, scores in results["removal_by_site"].items()]
    table = "\n\n".join([*tables, format_detection_table(results["detection"]), format_run_mask_errors(results["run_masks"])])
    print(f"{results['sequences']} held-out sequences\n{table}")
    if args.card:
        from .model_card import write_model_card

        (args.weights / "evaluation.json").write_text(json.dumps(results, indent=1))
        print(f"wrote {write_model_card(args.weights, table)}")
    if args.sheets:
        for path in write_contact_sheets(ClearVision.load(args.weights, device=args.device, method=method), args.shared, args.sheets):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

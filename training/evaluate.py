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
from preprocess.sets import DEFAULT_OUT, load_removal_validation

from .score_detection import detection_table, format_detection_table
from .score_removal import colour_oracle_scores, format_removal_table, removal_scores

__all__ = ["evaluate", "main", "MODEL_DIR"]

MODEL_DIR = Path(__file__).resolve().parent.parent / "model_dict"


def evaluate(data: Path, weights: Path, device: str | None = None) -> dict:
    learned = ClearVision.load(weights, device=device)
    models = {"learned": learned}
    models.update({name: ClearVision.load(weights, device=device, method=name) for name in ("linear", "nearest", "affine")})
    sequences = load_removal_validation(data / "removal_val.npz")
    removal = removal_scores(models, sequences)
    oracle = colour_oracle_scores(models["linear"], sequences)
    detection = detection_table(learned, data / "detector_val.npz")
    return {"removal": removal, "colour_oracle": oracle, "detection": detection, "sequences": len(sequences)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="folder with removal_val.npz and detector_val.npz")
    parser.add_argument("--weights", type=Path, default=MODEL_DIR)
    parser.add_argument("--device", default=None)
    parser.add_argument("--card", action="store_true", help="save evaluation.json and rewrite MODEL_CARD.md with the numbers")
    args = parser.parse_args(argv)
    for name in ("removal_val.npz", "detector_val.npz"):
        if not (args.data / name).is_file():
            parser.error(f"{args.data / name} not found; run `python -m preprocess build` first")
    results = evaluate(args.data, args.weights, args.device)
    table = format_removal_table(results["removal"], results["colour_oracle"]) + "\n\n" + format_detection_table(results["detection"])
    print(f"{results['sequences']} held-out sequences\n{table}")
    if args.card:
        from .model_card import write_model_card

        (args.weights / "evaluation.json").write_text(json.dumps(results, indent=1))
        print(f"wrote {write_model_card(args.weights, table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

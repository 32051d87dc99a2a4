"""Speed and memory of Clear Vision against a seed-sized reference (issue 5).

    python -m benchmarks.run                        # everything; writes benchmarks/results.json
    python -m benchmarks.run --skip-app --skip-large
    python -m benchmarks.run --tiny --skip-app      # a seconds-long smoke run (the tests use it)
    python -m benchmarks.run --app-only --app-baseline /tmp/app_rev.py   # the web app alone, against another version of it

Ours and the reference alternate repeat by repeat in one process, so their ratio holds even on
a busy machine while absolute seconds do not. Model load and the large tiled case run in fresh
child processes, so that warm caches and earlier allocations do not flatter them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import psutil
import torch

from clear_vision import ClearVision

from .machine import machine_info
from .reference import ReferenceMaskUNet, ReferencePipeline, ReferenceTemporalUNet, count_weights
from .server import APP_PATH, PROJECT_ROOT, AppServer, connect, remove_clouds
from .synthetic import synthetic_sequence, write_frames

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
TARGET_PEAK_MB = 2048  # issue 5: 10 frames of 1024x1024 within 2 GB
TARGET_LOAD_SECONDS = 2.0
TARGET_APP_PEAK_MB = 3072  # issue 14: the app's server stays under 3 GB whatever is uploaded
TINY = {  # small enough for a test: every code path, none of the cost
    "repeats": 2, "warmup": 1, "frames": 3, "size": 32, "large_size": 272, "load_repeats": 1, "app_clients": 2, "app_requests": 1,
}


# ---- statistics -------------------------------------------------------------------------------


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """Median and spread of timings in seconds; the raw samples are kept for re-analysis."""
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else (samples[0],) * 3
    return {
        "median": statistics.median(samples),
        "q1": q1,
        "q3": q3,
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        "samples": list(samples),
    }


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(ours: Callable[[], Any], reference: Callable[[], Any], repeats: int, warmup: int) -> dict[str, Any]:
    """Time both, alternating which goes first, so machine load hits them alike."""
    for _ in range(warmup):
        ours()
        reference()
    ours_times, reference_times = [], []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            ours_times.append(timed(ours))
            reference_times.append(timed(reference))
        else:
            reference_times.append(timed(reference))
            ours_times.append(timed(ours))
    return {
        "ours": summarize(ours_times),
        "reference": summarize(reference_times),
        "ratio": statistics.median(reference_times) / statistics.median(ours_times),
        "paired_ratio": statistics.median(r / o for r, o in zip(reference_times, ours_times)),
    }


# ---- in-process comparison --------------------------------------------------------------------


def compare(device: str, args: argparse.Namespace) -> dict[str, Any]:
    """run / detect / fill of ours and of the seed-sized reference, interleaved."""
    frames, masks = synthetic_sequence(args.frames, args.size, args.size, seed=args.seed)
    # The last date overcast: stage 2's network corrects only frames at least 90 % hidden (it is
    # skipped when there are none), so without one the timings would miss it.
    frames[-1], masks[-1] = 235, True
    ours = ClearVision.load(args.weights, device=device)
    reference = ReferencePipeline(device=device, seed=args.seed)
    print(f"[{device}] {args.frames} frames of {args.size}x{args.size}, {args.repeats} repeats after {args.warmup} warm-up", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "cloudy on every date" notes on synthetic scenes
        results = {"shape": list(frames.shape[:3])}
        for case, ours_fn, reference_fn in (
            ("run", lambda: ours.run(frames), lambda: reference.run(frames)),
            ("detect", lambda: ours.detect(frames), lambda: reference.detect(frames)),
            ("fill", lambda: ours.fill(frames, masks), lambda: reference.fill(frames, masks)),
        ):
            results[case] = interleaved(ours_fn, reference_fn, args.repeats, args.warmup)
            print(f"  {case:7s} ours {_seconds(results[case]['ours'])}  reference {_seconds(results[case]['reference'])}"
                  f"  ratio {results[case]['ratio']:.2f}", flush=True)
        results["detected_cloud_cover"] = float(ours.detect(frames).mean())
    results["true_cloud_cover"] = float(masks.mean())
    return results


# ---- child processes: cold load and the large tiled case --------------------------------------


def child(args: argparse.Namespace) -> None:
    """Runs inside a fresh interpreter; prints one JSON line for the parent."""
    startup = time.time() - psutil.Process().create_time()  # interpreter start + imports (torch, clear_vision)
    started = time.perf_counter()
    cv = ClearVision.load(args.weights, device=args.device)
    result: dict[str, Any] = {"startup_seconds": startup, "load_seconds": time.perf_counter() - started}
    small, _ = synthetic_sequence(args.frames, args.size, args.size, seed=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result["first_run_seconds"] = timed(lambda: cv.run(small))  # one-time costs a first user pays
        if args.child == "large":
            frames, _ = synthetic_sequence(args.frames, args.large_size, args.large_size, seed=args.seed)
            rss_before = psutil.Process().memory_info().rss / 2**20
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            result["seconds"] = timed(lambda: cv.run(frames))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
            result.update(shape=list(frames.shape[:3]), rss_before_mb=rss_before, peak_rss_mb=peak, peak_growth_mb=max(0.0, peak - rss_before))
            if args.device == "cuda":
                result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def run_child(case: str, device: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "benchmarks.run", "--child", case, "--device", device, "--threads", str(args.threads),
        "--frames", str(args.frames), "--size", str(args.size), "--large-size", str(args.large_size), "--seed", str(args.seed),
    ] + (["--weights", str(args.weights)] if args.weights else [])
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child benchmark '{case}' failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def measure_load(device: str, args: argparse.Namespace) -> dict[str, Any]:
    runs = [run_child("load", device, args) for _ in range(args.load_repeats)]
    result = {key: summarize([run[key] for run in runs]) for key in ("startup_seconds", "load_seconds", "first_run_seconds")}
    print(f"[{device}] load {_seconds(result['load_seconds'])} (startup before it {_seconds(result['startup_seconds'])}),"
          f" first run {_seconds(result['first_run_seconds'])}", flush=True)
    return result


def measure_large(device: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{device}] {args.frames} frames of {args.large_size}x{args.large_size} in a fresh process ...", flush=True)
    result = run_child("large", device, args)
    print(f"  {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB (+{result['peak_growth_mb']:.0f} MB during the run)", flush=True)
    return result


# ---- the web app ------------------------------------------------------------------------------


def measure_app(args: argparse.Namespace) -> dict[str, Any]:
    """Round trips through /remove_clouds with several concurrent gradio_client clients, then the
    largest request the app accepts (--frames frames of --large-size) with the server's peak memory.

    With --app-baseline, a second server runs that app file and every client alternates between
    the two, request by request (the order flips each time), so both see the same machine load.
    """
    apps = {"app": args.app_path} | ({"baseline": args.app_baseline} if args.app_baseline else {})
    missing = [str(path) for path in apps.values() if not path.is_file()]
    if missing:
        print(f"[app] skipped: {', '.join(missing)} not found", flush=True)
        return {"skipped": f"{', '.join(missing)} not found"}
    print(f"[app] starting {', '.join(map(str, apps.values()))} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="clear-vision-bench-") as scratch, contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(AppServer(path, startup_timeout=args.app_timeout)) for name, path in apps.items()}
        frames, _ = synthetic_sequence(args.frames, args.size, args.size, seed=args.seed)
        paths = write_frames(frames, Path(scratch) / "input")
        clients = [{name: connect(server.url, Path(scratch) / f"{name}{k}") for name, server in servers.items()} for k in range(args.app_clients)]
        first = {name: timed(lambda client=client: remove_clouds(client, paths)) for name, client in clients[0].items()}
        start_line = threading.Barrier(args.app_clients)

        def session(pair: dict[str, Any]) -> list[tuple[str, float, float]]:
            start_line.wait()
            spans = []
            for request in range(args.app_requests):
                for name in (list(pair) if request % 2 == 0 else list(pair)[::-1]):
                    began = time.perf_counter()
                    remove_clouds(pair[name], paths)
                    spans.append((name, began, time.perf_counter()))
            return spans

        with ThreadPoolExecutor(args.app_clients) as pool:
            spans = [span for spans in pool.map(session, clients) for span in spans]
        ours = [(begin, end) for name, begin, end in spans if name == "app"]
        wall = max(end for _, _, end in spans) - min(begin for _, begin, _ in spans)
        result = {
            "app": str(args.app_path),
            "clients": args.app_clients,
            "requests": len(ours),
            "frames": list(frames.shape[:3]),
            "requests_per_second": len(spans) / wall,  # all servers' requests: with a baseline, the pair's throughput
            "round_trip": summarize([end - begin for begin, end in ours]),
            "first_request_seconds": first["app"],
            "startup_seconds": servers["app"].startup_seconds,
            "server_rss_mb": servers["app"].rss_mb(),
        }
        print(f"  {result['requests_per_second']:.2f} requests/s, median round trip {result['round_trip']['median']:.2f} s"
              f" ({args.app_clients} clients)", flush=True)
        if args.app_baseline:
            result["baseline"] = {
                "app": str(args.app_baseline),
                "round_trip": summarize([end - begin for name, begin, end in spans if name == "baseline"]),
                "server_rss_mb": servers["baseline"].rss_mb(),
            }
            print(f"  baseline {args.app_baseline}: median round trip {result['baseline']['round_trip']['median']:.2f} s", flush=True)
        result["largest"] = _largest_request(servers["app"], clients[0]["app"], Path(scratch), args)
        for pair in clients:
            for client in pair.values():
                client.close()
    return result


def _largest_request(server: AppServer, client: Any, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One request of --frames frames of --large-size px (10 of 1024x1024: the most the app takes), server RSS sampled."""
    large, _ = synthetic_sequence(args.frames, args.large_size, args.large_size, seed=args.seed)
    paths = write_frames(large, scratch / "large")
    del large
    before, peak, done = server.rss_mb(), [server.rss_mb()], threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak.append(server.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds = timed(lambda: remove_clouds(client, paths))
    finally:
        done.set()
        sampler.join()
    result = {"frames": [args.frames, args.large_size, args.large_size], "seconds": seconds, "rss_before_mb": before, "peak_rss_mb": max(peak)}
    print(f"  largest accepted request, {args.frames} frames of {args.large_size}x{args.large_size}: {seconds:.1f} s,"
          f" server peak RSS {max(peak):.0f} MB (target < {TARGET_APP_PEAK_MB} MB)", flush=True)
    return result


# ---- report -----------------------------------------------------------------------------------


def _seconds(stats: dict[str, Any]) -> str:
    if stats["n"] == 1:
        return f"{stats['median']:.3g} s"
    return f"{stats['median']:.3g} s [{stats['q1']:.3g}-{stats['q3']:.3g}]"


def markdown(results: dict[str, Any]) -> str:
    """The table for README.md: medians with [first-third quartile], ratio = reference / ours."""
    machine, weights = results["machine"], results["weights"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, {machine['memory_gb']} GB,"
        f" torch {machine['torch']}, {results['config']['threads']} threads"
        f" (1-min load average {machine['load_average_1min']} at start)" + (f", GPU {machine['cuda']}" if machine["cuda"] else ""),
        f"Weights: ours {weights['ours_detector'] / 1e6:.2f} M + {weights['ours_filler'] / 1e6:.2f} M;"
        f" seed-sized reference {weights['reference_mask_unet'] / 1e6:.1f} M + {weights['reference_temporal_unet'] / 1e6:.1f} M",
        "",
        "| device | case | Clear Vision | seed-sized reference | reference / ours |",
        "|---|---|---|---|---|",
    ]
    for device, entry in results["devices"].items():
        if "run" in entry:
            t, h, w = entry["shape"]
            for case, label in (("run", f"run, {t} frames {h}x{w}"), ("detect", "stage 1 (detect)"), ("fill", "stage 2 (fill)")):
                pair = entry[case]
                lines.append(f"| {device} | {label} | {_seconds(pair['ours'])} | {_seconds(pair['reference'])} | {pair['ratio']:.2f}x |")
        if "large" in entry:
            large = entry["large"]
            t, h, w = large["shape"]
            lines.append(f"| {device} | run, {t} frames {h}x{w} (tiled) | {large['seconds']:.3g} s, peak RSS {large['peak_rss_mb']:.0f} MB"
                         f" (+{large['peak_growth_mb']:.0f} MB in the run; target < {TARGET_PEAK_MB} MB)"
                         + (f", GPU peak {large['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in large else "") + " | | |")
        if "load" in entry:
            load = entry["load"]
            lines.append(f"| {device} | `ClearVision.load` (fresh process; target < {TARGET_LOAD_SECONDS} s) | {_seconds(load['load_seconds'])};"
                         f" interpreter + imports before it {_seconds(load['startup_seconds'])};"
                         f" first run {_seconds(load['first_run_seconds'])} | | |")
    app = results.get("app", {})
    if "requests_per_second" in app:
        t, h, w = app["frames"]
        lines.append(f"| app | /remove_clouds, {t} PNGs {h}x{w}, {app['clients']} clients | {app['requests_per_second']:.2f} requests/s,"
                     f" round trip {_seconds(app['round_trip'])} | | |")
        if "baseline" in app:
            lines.append(f"| app | same, `{app['baseline']['app']}` (alternating) | round trip {_seconds(app['baseline']['round_trip'])} | | |")
        t, h, w = app["largest"]["frames"]
        lines.append(f"| app | /remove_clouds, {t} PNGs {h}x{w} (the most it takes) | {app['largest']['seconds']:.3g} s,"
                     f" server peak RSS {app['largest']['peak_rss_mb']:.0f} MB (target < {TARGET_APP_PEAK_MB} MB) | | |")
    elif app:
        lines.append(f"| app | /remove_clouds | {app.get('skipped') or 'failed: ' + app.get('error', '')} | | |")
    return "\n".join(lines)


# ---- command line -----------------------------------------------------------------------------


def weight_counts(weights_dir: Path | None) -> dict[str, int]:
    ours = ClearVision.load(weights_dir, device="cpu")
    return {
        "ours_detector": count_weights(ours.detector),
        "ours_filler": count_weights(ours.filler),
        "reference_mask_unet": count_weights(ReferenceMaskUNet()),
        "reference_temporal_unet": count_weights(ReferenceTemporalUNet()),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help=f"smoke-test sizes: {TINY} (explicit options still win)")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats per case (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, as in BENCHMARK.md)")
    parser.add_argument("--frames", type=int, default=10, help="frames per sequence (default 10; the reference takes at most 10)")
    parser.add_argument("--size", type=int, default=128, help="frame side for the speed comparison and the app (default 128)")
    parser.add_argument("--large-size", type=int, default=1024, help="frame side of the tiled large case (default 1024)")
    parser.add_argument("--load-repeats", type=int, default=3, help="fresh processes timing ClearVision.load (default 3)")
    parser.add_argument("--app-clients", type=int, default=3, help="concurrent API clients (default 3)")
    parser.add_argument("--app-requests", type=int, default=4, help="requests per client (default 4)")
    parser.add_argument("--app-timeout", type=float, default=300.0, help="seconds to wait for app.py to start (default 300)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: the CPU, and CUDA too when available")
    parser.add_argument("--weights", type=Path, default=None, help="weights folder (default: model_dict/)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic sequences and reference weights")
    parser.add_argument("--skip-large", action="store_true", help="skip the large tiled case")
    parser.add_argument("--skip-load", action="store_true", help="skip the fresh-process load timing")
    parser.add_argument("--skip-app", action="store_true", help="skip the web app round trips")
    parser.add_argument("--app-only", action="store_true", help="only the web app round trips (no model comparison, large case or load)")
    parser.add_argument("--app-path", type=Path, default=APP_PATH, help="the app file to time (default: app.py)")
    parser.add_argument("--app-baseline", type=Path, help="another app file (e.g. an older version) timed alternately with --app-path")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT.relative_to(PROJECT_ROOT)})")
    parser.add_argument("--child", choices=("load", "large"), help=argparse.SUPPRESS)
    if parser.parse_known_args(argv)[0].tiny:
        parser.set_defaults(**TINY)
    args = parser.parse_args(argv)
    for name in ("repeats", "frames", "size", "large_size", "load_repeats", "app_clients", "app_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        child(args)
        return 0
    devices = ["cpu", "cuda"] if args.device == "auto" and torch.cuda.is_available() else ["cpu" if args.device == "auto" else args.device]
    machine = machine_info()
    weights = weight_counts(args.weights)
    print(f"{machine['cpu']}, {machine['logical_cores']} cores, torch {machine['torch']}, {torch.get_num_threads()} threads,"
          f" load average {machine['load_average_1min']}", flush=True)
    print("weights: " + ", ".join(f"{name} {count:,}" for name, count in weights.items()), flush=True)

    results: dict[str, Any] = {"machine": machine, "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "child"},
                               "weights": weights, "devices": {}}
    failed = False
    for device in [] if args.app_only else devices:
        entry = results["devices"][device] = compare(device, args)
        if not args.skip_large:
            entry["large"] = measure_large(device, args)
        if not args.skip_load:
            entry["load"] = measure_load(device, args)
    if args.app_only or not args.skip_app:
        try:
            results["app"] = measure_app(args)
        except Exception as error:  # report the failure beside the other numbers instead of losing them
            print(f"[app] failed: {error}", file=sys.stderr, flush=True)
            results["app"] = {"error": f"{type(error).__name__}: {error}"}
            failed = True

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {args.out}\n")
    print(markdown(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

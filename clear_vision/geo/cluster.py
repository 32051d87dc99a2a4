"""A local Dask cluster whose workers run chunks as fast as this process does."""

from __future__ import annotations

import logging
import os
import signal
from functools import cache
from typing import Any

import dask

__all__ = ["local_cluster", "dask_setup", "quiet_failed_tasks", "silence_worker_logs", "WORKER_ENVIRON", "TRIM_VARIABLE", "WORKER_EXIT_S"]

# distributed's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker, which makes glibc map
# and unmap every large temporary array: one 640x640x10 chunk took 45 s in such a worker and
# 19 s without it (15 s in this process, on a busy machine). Workers here keep glibc's defaults
# and the one-thread settings; their memory stays bounded by the chunk size.
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"  # the nanny's setting; see WORKER_ENVIRON


# distributed's nanny gives its worker process 4 s to exit, then kills it with a warning. A worker
# that has loaded torch and GDAL took 2.5..4.5 s to exit on this busy 2-core machine, so every
# --workers run ended in two "still alive after 4.0 seconds, killing" lines.
WORKER_EXIT_S = 30


@cache
def _patient_nanny() -> type:
    """A `distributed.Nanny` that waits WORKER_EXIT_S for its worker process to exit when closed."""
    from distributed import Nanny

    class PatientNanny(Nanny):
        async def close(self, timeout: float = WORKER_EXIT_S / 0.8, reason: str = "nanny-close") -> str:
            return await super().close(timeout=timeout, reason=reason)

    return PatientNanny


def dask_setup(worker: Any) -> None:
    """Run by each worker process of `local_cluster` once it has started (distributed's preload): it
    ignores Ctrl-C. A terminal sends it to every process of the command, and interrupted in a task
    the workers printed 30..90 lines of tracebacks; the command stops the run and closes them.
    (Held back in the command while the workers start, a Ctrl-C got lost: another thread of the
    command took it. Interrupted while starting, the workers fail to start, and the command keeps
    that quiet itself.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_cluster(n_workers: int, **options: Any) -> Any:
    """`distributed.LocalCluster` of `n_workers` single-threaded worker processes that ignore Ctrl-C
    (`dask_setup`). Its HTTP server (and dashboard) take a free port: on 8787, taken by any other
    cluster, distributed warned in three lines."""
    from distributed import LocalCluster
    from distributed.deploy.spec import SpecCluster

    # a distributed cluster started earlier in this process leaves its nanny's MALLOC_TRIM_THRESHOLD_ in
    # os.environ, which workers spawned now would inherit: kept out while they start
    inherited = os.environ.pop(TRIM_VARIABLE, None)
    earlier = set(SpecCluster._instances)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON, "distributed.worker.preload": [__name__]}):
            return LocalCluster(
                n_workers=n_workers, threads_per_worker=1, dashboard_address=":0", worker_class=_patient_nanny(), **options
            )
    except BaseException:
        # interrupted while starting (Ctrl-C): distributed's exit hook would close the half-started
        # cluster and print 30 lines ending in "AssertionError: Status.init"; its worker processes
        # are daemons and end with this process
        for cluster in set(SpecCluster._instances) - earlier:
            SpecCluster._instances.discard(cluster)
        raise
    finally:
        if inherited is not None:
            os.environ[TRIM_VARIABLE] = inherited


def _not_a_failed_task(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Compute Failed")


def quiet_failed_tasks() -> None:
    """Run on a local cluster's workers by the command, which says in one line why a run failed:
    a worker's own report of the failed chunk is its task key, state and traceback (about 10 lines)."""
    logging.getLogger("distributed.worker").addFilter(_not_a_failed_task)


def silence_worker_logs() -> None:
    """Run on a local cluster's workers when the run is interrupted: its cancelled tasks are expected."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)

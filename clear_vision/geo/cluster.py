"""A local Dask cluster whose workers run chunks as fast as this process does."""

from __future__ import annotations

from typing import Any

import dask

__all__ = ["local_cluster", "WORKER_ENVIRON"]

# distributed's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker, which makes glibc map
# and unmap every large temporary array: one 640x640x10 chunk took 45 s in such a worker and
# 19 s without it (15 s in this process, on a busy machine). Workers here keep glibc's defaults
# and the one-thread settings; their memory stays bounded by the chunk size.
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


def local_cluster(n_workers: int, **options: Any) -> Any:
    """`distributed.LocalCluster` of `n_workers` single-threaded worker processes (no dashboard)."""
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None, **options)

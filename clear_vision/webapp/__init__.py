"""The web app's parts behind `app.py`, which keeps only `main` and the page layout.

- `uploads`: which uploaded files run, in what order, with which dates, and whether they fit;
- `runs`: one request end to end, the model on a thread of its own;
- `results`: the files a run hands back (gallery images, the zip), each encoded once;
- `housekeeping`: a private temp folder, pruning what requests and aborted uploads leave, heap release;
- `options`: the command line's numeric options and the page's slider values, checked;
- `server`: limits on slow and excess connections for the HTTP server.

Nothing here imports gradio, so `QUIET_GRADIO` can be put into the environment before gradio is
imported (it reads these variables at import time).
"""

from __future__ import annotations

__all__ = ["QUIET_GRADIO"]

# Offline and private: no analytics, no Hugging Face Hub calls. Used by app.py and the benchmarks' clients.
QUIET_GRADIO = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}

"""Benchmarks of Clear Vision: speed against a seed-sized reference (`run`), and a soak test of
the web app (`soak`).

Modules: `synthetic` (seeded sequences, so no data set is needed), `machine` (what the numbers
were measured on), `server` (the app in a child process and its API call), `reference` (the
seed-sized networks).
"""

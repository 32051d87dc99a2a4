"""Turn real satellite cubes into Clear Vision training and validation data.

Readers yield a `Cube` (RGB reflectance, bad-pixel mask, labels, dates); `rgb` renders it to
the 8-bit form users upload; `gaps` pastes real and simulated clouds onto clear frames.
"""

"""Training and evaluation of Clear Vision's two networks (see README.md, "Training")."""

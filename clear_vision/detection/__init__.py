"""Stage 1: find cloud, haze and shadow in each frame, seeing the other dates of the place."""

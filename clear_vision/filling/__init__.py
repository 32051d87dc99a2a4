"""Stage 2 and composition: fill the masked pixels from the other dates, keep the rest."""

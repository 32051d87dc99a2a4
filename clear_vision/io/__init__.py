"""Steps 1 and 5: decode and validate what users hand in; write what they get back."""

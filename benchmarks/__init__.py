"""Reproducible cost measurements: every figure is a ratio to a floor from the same run."""

"""CLUE: CLIP prompt guidance for anomaly maps in medical image slices."""

__version__ = "0.1.0"

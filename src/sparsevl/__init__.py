"""sparsevl: sparse-sampling video-language training (ClipBERT-style)."""

__version__ = "0.1.0"

"""Sparse dictionaries from sae-lens: loading, hook-name mapping, encoding and training."""

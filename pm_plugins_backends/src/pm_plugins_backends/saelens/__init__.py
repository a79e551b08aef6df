"""The `saelens` backend: a model run through TransformerLens and captured at sae-lens hook names."""

"""Hugging Face transformers backend: loading, chat rendering and activation capture."""

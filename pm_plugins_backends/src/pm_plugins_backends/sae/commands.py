"""`pm sae`: train dictionaries on stored activations and encode stored activations with them."""

from __future__ import annotations

import click

from pm_plugins_backends.sae.encode_command import encode_command
from pm_plugins_backends.sae.train_command import train_command


@click.group("sae")
def sae_group() -> None:
    """Train SAEs on stored raw activations, and encode stored activations with an SAE."""


sae_group.add_command(train_command)
sae_group.add_command(encode_command)

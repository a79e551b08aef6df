"""Storage of an output directory: dense activations in zarr, outputs and features in LanceDB."""

from __future__ import annotations

from pm_core.storage.activation_reader import ActivationReader
from pm_core.storage.activations import ActivationWriter, RowLocation
from pm_core.storage.layout import Site

__all__ = ["ActivationReader", "ActivationWriter", "RowLocation", "Site"]

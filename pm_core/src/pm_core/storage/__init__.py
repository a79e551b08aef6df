"""Storage of an output directory: dense activations in zarr, outputs and features in LanceDB.

lancedb itself is imported only when a LanceDB table is first opened.
"""

from __future__ import annotations

from pm_core.storage.activation_reader import ActivationReader
from pm_core.storage.activations import ActivationWriter, RowLocation
from pm_core.storage.layout import Site
from pm_core.storage.outputs import OutputReader, OutputWriter

__all__ = ["ActivationReader", "ActivationWriter", "OutputReader", "OutputWriter", "RowLocation", "Site"]

"""Encode activations with an SAE into sparse features, on the SAE's own device and dtype.

The dtype and device come from the SAE's parameters, never from its config:
`sae.float()` converts the weights but leaves `sae.cfg.dtype` behind, and sae-lens
then rounds every input to the stale dtype. The extractor re-syncs the
config with the parameters before each encode and returns float32 features on the CPU.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pm_plugins_backends.sae.hooks import site_of_hook

if TYPE_CHECKING:
    import torch
    from sae_lens import SAE

#: Rows encoded at once, so a wide dictionary never needs a dense (batch, d_sae) block of more than
#: ROWS_PER_CHUNK rows on its device.
ROWS_PER_CHUNK = 1024


class SAEFeatureExtractor:
    """A loaded SAE as a feature extractor: dense activations in, a CSR matrix of active features out."""

    sparse = True

    def __init__(self, sae: SAE, name: str, source: dict[str, Any] | None = None) -> None:
        self.sae = sae
        self.name = name
        self.source = dict(source or {})
        self.site = site_of_hook(sae.cfg.metadata.hook_name, source=f"SAE {name!r}")
        self.d_in = int(sae.cfg.d_in)
        self.d_out = int(sae.cfg.d_sae)
        self._digest: str | None = None

    def placement(self) -> tuple[torch.dtype, torch.device]:
        """Return the dtype and device of the SAE's parameters."""
        parameter = next(self.sae.parameters())
        return parameter.dtype, parameter.device

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.source,
            "architecture": self.sae.cfg.architecture(),
            "hook_name": self.sae.cfg.metadata.hook_name,
            "d_in": self.d_in,
            "d_sae": self.d_out,
            "weights_sha256": self.weights_digest(),
        }

    def weights_digest(self) -> str:
        """Return a SHA-256 over the SAE's parameters, so two dictionaries with one name stay apart."""
        if self._digest is None:
            digest = hashlib.sha256()
            for key, tensor in sorted(self.sae.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().float().cpu().numpy().tobytes())
            self._digest = digest.hexdigest()
        return self._digest

    def encode(self, activations: np.ndarray) -> sp.csr_matrix:
        """Encode (n_rows, d_in) activations; return a float32 CSR matrix of shape (n_rows, d_sae)."""
        import torch

        activations = np.asarray(activations)
        if activations.ndim != 2 or activations.shape[1] != self.d_in:
            msg = f"SAE {self.name!r} encodes rows of width {self.d_in}, got an array of shape {activations.shape}"
            raise ValueError(msg)
        dtype, device = self.placement()
        if self.sae.dtype != dtype or str(self.sae.device) != str(device):
            # `.to` updates sae.cfg.dtype/device, which `encode` casts its inputs to.
            self.sae.to(dtype=dtype, device=device)

        blocks = []
        with torch.no_grad():
            for start in range(0, len(activations), ROWS_PER_CHUNK):
                rows = torch.as_tensor(activations[start : start + ROWS_PER_CHUNK]).to(device=device, dtype=dtype)
                features = self.sae.encode(rows).float()
                blocks.append(_to_csr(features))
        if not blocks:
            return sp.csr_matrix((0, self.d_out), dtype=np.float32)
        return sp.vstack(blocks, format="csr")


def _to_csr(features: torch.Tensor) -> sp.csr_matrix:
    """Move only the nonzero entries of a dense (rows, d_sae) tensor to the CPU, as CSR."""
    rows, columns = features.nonzero(as_tuple=True)
    values = features[rows, columns]
    counts = np.bincount(rows.cpu().numpy(), minlength=features.shape[0])
    indptr = np.zeros(features.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix(
        (values.cpu().numpy().astype(np.float32), columns.cpu().numpy().astype(np.int32), indptr),
        shape=tuple(features.shape),
    )

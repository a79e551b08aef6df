"""The `dann` classifier: a domain-adversarial network that learns features shared by the source datasets.

`groups` (the source dataset of each training row) is the domain label. Without
`groups`, or with a single dataset, the network trains with the label head only.
torch is imported when the classifier is created, never when it is registered.
Saved state, `model.pt`: the network's state_dict, loaded with `weights_only=True`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.preprocessing import StandardScaler

from pm_plugins_classifiers.base import BaseClassifier, MissingDependencyError, check_training_data
from pm_plugins_classifiers.options import DANNOptions

logger = logging.getLogger(__name__)

STATE_FILE = "model.pt"
#: Rows per forward pass when scoring.
PREDICT_BATCH_SIZE = 4096


def import_torch():
    """Import torch, or raise `MissingDependencyError` naming the extra that installs it."""
    try:
        import torch
    except ImportError as error:
        msg = "the dann classifier needs torch, which is not installed: pip install 'pm-plugins-classifiers[dann]'"
        raise MissingDependencyError(msg) from error
    return torch


class DANNClassifier(BaseClassifier):
    """Domain-adversarial MLP. Scores are the label head's probability of the malicious class."""

    name = "dann"
    options_type = DANNOptions
    dependencies = ("torch", "scikit-learn")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        import_torch()
        self.network_ = None
        self.domains_: list[str] = []

    def reversal_weight(self, progress: float) -> float:
        """Return lambda, the weight of the reversed domain gradient, at `progress` (0 to 1) through training."""
        if self.options.lambda_schedule == "constant":
            return self.options.lambda_max
        return self.options.lambda_max * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)

    def fit(self, X: Any, y: Any, groups: Any = None) -> DANNClassifier:
        """Train on `X` and 0/1 labels `y`, with `groups` (one source dataset name per row) as domains."""
        torch = import_torch()
        from pm_plugins_classifiers.dann_network import DANNNetwork

        X, y, groups = check_training_data(X, y, groups)
        started = time.perf_counter()
        options = self.options
        device = torch.device(options.device)
        domains, domain_ids = _encode_domains(groups)
        if len(domains) < 2:
            logger.info("dann: %s, so training without the domain head",
                        "no groups given" if groups is None else f"groups name one dataset ({domains[0]!r})")

        # fork_rng restores the caller's global torch RNG afterwards, so on CPU the seed alone fixes the result.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(options.seed)
            network = DANNNetwork(X.shape[1], options.hidden, len(domains))
            scaler = StandardScaler(with_mean=False).fit(X)
            network.mean.copy_(torch.from_numpy(scaler.mean_))
            network.scale.copy_(torch.from_numpy(scaler.scale_))
            network.to(device)
            self._train(torch, network, X, y, domain_ids, device)

        self.network_ = network.eval()
        self.domains_ = [str(domain) for domain in domains]
        self.n_features_ = X.shape[1]
        logger.info(
            "fitted dann classifier on %d rows x %d features, %d domains, %d epochs in %.2fs",
            X.shape[0], X.shape[1], len(domains), options.epochs, time.perf_counter() - started,
        )
        return self

    def _train(self, torch, network, X, y: np.ndarray, domain_ids: np.ndarray | None, device) -> None:
        options = self.options
        generator = torch.Generator().manual_seed(options.seed)
        optimizer = torch.optim.Adam(network.parameters(), lr=options.lr, weight_decay=options.weight_decay)
        labels = torch.from_numpy(y.astype(np.float32))
        domain_labels = None if domain_ids is None else torch.from_numpy(domain_ids)
        n_rows = X.shape[0]
        steps_per_epoch = math.ceil(n_rows / options.batch_size)
        total_steps = options.epochs * steps_per_epoch

        network.train()
        step = 0
        for epoch in range(options.epochs):
            order = torch.randperm(n_rows, generator=generator)
            label_total = domain_total = 0.0
            for start in range(0, n_rows, options.batch_size):
                rows = order[start:start + options.batch_size]
                batch = _rows_as_tensor(torch, X, rows.numpy()).to(device)
                label_logits, domain_logits = network(batch, self.reversal_weight(step / total_steps))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(label_logits, labels[rows].to(device))
                label_total += loss.item()
                if domain_logits is not None:
                    domain_loss = torch.nn.functional.cross_entropy(domain_logits, domain_labels[rows].to(device))
                    domain_total += domain_loss.item()
                    loss = loss + domain_loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
            logger.debug("dann epoch %d/%d: label loss %.4f, domain loss %.4f", epoch + 1, options.epochs,
                         label_total / steps_per_epoch, domain_total / steps_per_epoch)

    def predict_scores(self, X: Any) -> np.ndarray:
        """Return the probability of the malicious class per row, shape (n_prompts,)."""
        torch = import_torch()
        X = self._check_predict_input(X)
        device = torch.device(self.options.device)
        scores = []
        with torch.no_grad():
            for start in range(0, X.shape[0], PREDICT_BATCH_SIZE):
                batch = _rows_as_tensor(torch, X, np.arange(start, min(start + PREDICT_BATCH_SIZE, X.shape[0])))
                label_logits, _ = self.network_(batch.to(device))
                scores.append(torch.sigmoid(label_logits).cpu().numpy())
        return np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)

    def _state_metadata(self) -> dict[str, Any]:
        return {"domains": self.domains_}

    def _save_state(self, path: Path) -> None:
        torch = import_torch()
        torch.save(self.network_.state_dict(), path / STATE_FILE)

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        torch = import_torch()
        from pm_plugins_classifiers.dann_network import DANNNetwork

        self.domains_ = list(state["domains"])
        network = DANNNetwork(self.n_features_, self.options.hidden, len(self.domains_))
        weights = torch.load(path / STATE_FILE, map_location=self.options.device, weights_only=True)
        network.load_state_dict(weights)
        self.network_ = network.to(self.options.device).eval()


def _encode_domains(groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the sorted distinct groups and each row's index into them (None without groups)."""
    if groups is None:
        return np.array([]), None
    domains, domain_ids = np.unique(groups, return_inverse=True)
    return domains, domain_ids.astype(np.int64)


def _rows_as_tensor(torch, X: np.ndarray | scipy.sparse.csr_matrix, rows: np.ndarray):
    """Return the rows of X as a dense float32 tensor. Sparse X is densified one batch at a time."""
    batch = X[rows].toarray() if scipy.sparse.issparse(X) else X[rows]
    return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))

"""Registrations of further dataset families, appended to `catalog.DATASETS`."""

from __future__ import annotations

from typing import Any

#: (registered name, module, class, summary, config schema)
DATASETS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = ()

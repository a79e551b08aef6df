"""Loading a saved classifier without knowing its class in advance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pm_core.errors import UnknownNameError
from pm_plugins_classifiers.base import METADATA_FILE, read_metadata
from pm_plugins_classifiers.catalog import CLASSIFIERS, import_class


def load_classifier(path: str | Path) -> Any:
    """Restore the classifier saved in the folder `path`, choosing its class by the name in `classifier.json`."""
    path = Path(path)
    name = read_metadata(path)["name"]
    targets = {registered_name: target for registered_name, target, _, _ in CLASSIFIERS}
    if name not in targets:
        msg = (f"{path / METADATA_FILE}: unknown classifier {name!r}; "
               f"pm-plugins-classifiers loads {', '.join(sorted(targets))}")
        raise UnknownNameError(msg)
    return import_class(targets[name]).load(path)

"""Registration of the four classifiers through the plugin catalogue."""

from __future__ import annotations

import json
import subprocess
import sys

import attrs
import pytest

from pm_core.plugins import get_catalogue, reset_catalogue
from pm_plugins_classifiers.catalog import CLASSIFIERS

NAMES = ["dann", "linear", "prototype", "xgboost"]


@pytest.fixture
def catalogue():
    reset_catalogue()
    yield get_catalogue()
    reset_catalogue()


def test_catalogue_lists_all_four(catalogue) -> None:
    assert set(NAMES) <= set(catalogue.names("classifiers"))
    for name in NAMES:
        registration = catalogue.get("classifiers", name)
        assert registration.distribution == "pm-plugins-classifiers", name
        assert registration.summary, name


@pytest.mark.parametrize("name", NAMES)
def test_catalogue_creates_with_options(catalogue, name: str) -> None:
    if name == "dann":
        pytest.importorskip("torch")
    options = {"dann": {"epochs": 2}, "linear": {"C": 0.5}, "prototype": {"metric": "cosine"},
               "xgboost": {"max_depth": 2}}[name]

    classifier = catalogue.create("classifiers", name, **options)

    assert classifier.name == name
    for option, value in options.items():
        assert getattr(classifier.options, option) == value


@pytest.mark.parametrize(("name", "options_type"), [(entry[0], entry[3]) for entry in CLASSIFIERS])
def test_schema_matches_options(catalogue, name: str, options_type: type) -> None:
    schema = catalogue.get("classifiers", name).config_schema
    defaults = options_type()

    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == [field.name for field in attrs.fields(options_type)]
    for option, property_schema in schema["properties"].items():
        default = getattr(defaults, option)
        assert property_schema["default"] == (list(default) if isinstance(default, tuple) else default), option
        assert property_schema["description"], option
    json.dumps(schema)


def test_registering_imports_no_heavy_package() -> None:
    code = (
        "import json, sys\n"
        "from pm_core.plugins import get_catalogue, reset_catalogue\n"
        "reset_catalogue()\n"
        "names = get_catalogue().names('classifiers')\n"
        "heavy = sorted(m for m in ('sklearn', 'xgboost', 'torch', 'scipy') if m in sys.modules)\n"
        "print(json.dumps({'names': names, 'heavy': heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert set(NAMES) <= set(report["names"])
    assert report["heavy"] == []

"""Find a split's data files in a local folder laid out like a Hugging Face dataset repository.

A file belongs to a split when the split name is one of the words of its path
relative to the folder, where words are separated by `/`, `-`, `_`, `.`,
spaces and digits. So `data/train-00000-of-00001-9564e8b0.parquet` and
`test/part.jsonl` are found for `train` and `test`. A folder whose files name
no split at all is one `train` split, as on the hub.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pm_core.errors import ConfigError, DataError
from pm_plugins_datasets.readers import FORMATS_BY_SUFFIX

SPLIT_WORDS = frozenset({"train", "training", "test", "testing", "eval", "validation", "valid", "val", "dev"})
_WORD_SEPARATORS = re.compile(r"[/\\\-_. 0-9]+")

DataFiles = str | Sequence[str] | Mapping[str, str | Sequence[str]]


def _words(relative: Path) -> set[str]:
    stem = relative.with_suffix("").as_posix().lower()
    return {word for word in _WORD_SEPARATORS.split(stem) if word}


def _data_files_under(folder: Path) -> list[Path]:
    files = [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in FORMATS_BY_SUFFIX
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda path: path.relative_to(folder).as_posix())


def find_split_files(folder: Path, split: str) -> list[Path]:
    """Return the data files of `split` in `folder`, sorted by relative path.

    Raises `DataError` when the folder contains no file of that split.
    """
    files = _data_files_under(folder)
    matching = [path for path in files if split.lower() in _words(path.relative_to(folder))]
    if matching:
        return matching

    names_a_split = any(_words(path.relative_to(folder)) & SPLIT_WORDS for path in files)
    if split == "train" and files and not names_a_split:
        return files

    found = ", ".join(path.relative_to(folder).as_posix() for path in files) or "none"
    msg = f"no data file of split {split!r} in {folder}. Data files found: {found}. Set `split` or `data_files`."
    raise DataError(msg)


def resolve_data_files(folder: Path, data_files: DataFiles, split: str) -> list[Path]:
    """Expand `data_files` (a glob, a list of globs, or a mapping of split to globs) relative to `folder`."""
    if isinstance(data_files, Mapping):
        if split not in data_files:
            msg = f"`data_files` has no entry for split {split!r}: it names {', '.join(map(str, data_files))}"
            raise ConfigError(msg)
        patterns = data_files[split]
    else:
        if split != "train":
            msg = (
                f"`data_files` given as a list form the train split, but `split` is {split!r}. "
                "Use a mapping such as {test: data/test-*.parquet}."
            )
            raise ConfigError(msg)
        patterns = data_files
    if isinstance(patterns, str):
        patterns = [patterns]

    paths: list[Path] = []
    for pattern in patterns:
        matched = sorted(folder.glob(pattern))
        if not matched:
            msg = f"`data_files` pattern {pattern!r} matches no file in {folder}"
            raise DataError(msg)
        paths.extend(path for path in matched if path not in paths)
    return paths

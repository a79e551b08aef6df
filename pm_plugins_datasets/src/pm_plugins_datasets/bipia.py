"""`BIPIADataset`: indirect prompt injections built from the BIPIA benchmark data (Yi et al., 2023).

BIPIA ships clean task contexts and lists of attack strings, not finished
prompts. A poisoned sample is one context with one attack string inserted at one
position. `bipia_format` contains the insertion rule and the chat format.

The order of the samples fixes their row indexes, and so their shards. Samples go
by task (in the order of `tasks`), then context (file order), then the clean sample
when `include_clean` is set. Within a context they go by attack kind (text before
code), attack category and attack string (file order), then position (in the order
of `positions`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError, DataError
from pm_core.types import Message, PromptSpec
from pm_plugins_datasets.base import RowDataset, RowIssue
from pm_plugins_datasets.bipia_format import (
    POSITIONS,
    TASK_FORMATS,
    as_text,
    insert_attack,
    middle_split,
    render_user_turn,
)
from pm_plugins_datasets.readers import iter_file_records

logger = logging.getLogger(__name__)

TASKS = tuple(TASK_FORMATS)
SPLITS = ("train", "test")
ATTACK_KINDS = ("text", "code")
ATTACK_CHOICES = ("text", "code", "both")
#: Tasks whose contexts BIPIA does not redistribute, with the corpus they come from.
UNRELEASED_TASKS = {"qa": "NewsQA", "abstract": "XSum"}
#: Fields this class reads from the context rows of those tasks.
UNRELEASED_FIELDS = {"qa": ("context", "question", "ideal"), "abstract": ("context", "ideal")}
#: Source fields that go into the prompt rather than into `labels`.
PROMPT_FIELDS = frozenset({"context", "code", "error"})


@attrs.frozen
class Attack:
    kind: str
    category: str
    category_index: int
    index: int
    text: str


@attrs.frozen
class Context:
    """One context row, with its middle split index computed once for all of its samples."""

    task: str
    index: int
    row: dict[str, Any]
    text: str | None
    split_index: int | None


@attrs.frozen
class Sample:
    context: Context
    attack: Attack | None
    position: str | None


def _tuple_of(value: str | Iterable[str], name: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value)
    unknown = [item for item in values if item not in choices]
    if unknown:
        raise ConfigError(f"unknown BIPIA {name} {unknown}: expected some of {', '.join(choices)}")
    return values


def load_attacks(path: Path, kind: str) -> list[Attack]:
    """Read an attack file (category name -> list of attack strings) into `Attack`s in file order."""
    try:
        with path.open(encoding="utf-8") as file:
            categories = json.load(file)
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(categories, dict):
        msg = f"{path}: expected an object of attack category -> list of strings, got {type(categories).__name__}"
        raise DataError(msg)

    attacks = []
    for category_index, (category, texts) in enumerate(categories.items()):
        if not isinstance(texts, list) or not all(isinstance(text, str) and text.strip() for text in texts):
            raise DataError(f"{path}: category {category!r} must be a list of non-empty strings")
        attacks.extend(Attack(kind, category, category_index, index, text) for index, text in enumerate(texts))
    return attacks


def _check_md5(path: Path, md5_file: Path) -> None:
    if not md5_file.is_file():
        return
    # Each line of md5.txt is `<hex digest>  <file name>`, as md5sum writes it.
    expected = {}
    for line in md5_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            checksum, name = line.split(maxsplit=1)
            expected[name.strip()] = checksum
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    if path.name in expected and expected[path.name] != digest:
        logger.warning(
            "%s has md5 %s but BIPIA's md5.txt lists %s: these contexts differ from the published ones",
            path,
            digest,
            expected[path.name],
        )


class BIPIADataset(RowDataset):
    """BIPIA contexts with attack strings inserted, as chats of a system turn and a user turn.

    Labels: every poisoned sample is `malicious=True`, and the clean context
    (yielded once per context when `include_clean` is set) is `malicious=False`.
    `labels` also contains `task`, `split`, `context_index`, `position`,
    `attack_kind`, `attack_category`, `attack_index` and `attack_text` (all None
    for a clean sample), plus the context row's fields that are not rendered
    into the prompt (`question`, `ideal`, and the code task's URLs).

    `bipia_root` is a folder holding `benchmark/`. `attacks=None` pairs the
    tasks as BIPIA does: code attacks for the code task and text attacks for
    the others. `max_contexts` keeps that many contexts per task in file order.
    They are drawn with a random generator seeded from `seed`, the task and the
    split, and `seed` affects nothing else.
    """

    def __init__(
        self,
        bipia_root: str | os.PathLike,
        tasks: str | Iterable[str] = ("email", "code", "table"),
        split: str = "train",
        positions: str | Iterable[str] = POSITIONS,
        include_clean: bool = False,
        attacks: str | None = None,
        seed: int = 0,
        max_contexts: int | None = None,
    ) -> None:
        super().__init__()
        self.tasks = _tuple_of(tasks, "tasks", TASKS)
        self.positions = _tuple_of(positions, "positions", POSITIONS)
        if split not in SPLITS:
            raise ConfigError(f"unknown BIPIA split {split!r}: expected one of {', '.join(SPLITS)}")
        if attacks is not None and attacks not in ATTACK_CHOICES:
            raise ConfigError(f"unknown BIPIA attacks {attacks!r}: expected one of {', '.join(ATTACK_CHOICES)} or null")
        if not self.tasks:
            raise ConfigError("`tasks` is empty: name at least one of " + ", ".join(TASKS))
        if not self.positions and not include_clean:
            raise ConfigError("`positions` is empty and `include_clean` is false, so there is no sample to build")
        if max_contexts is not None and (type(max_contexts) is not int or max_contexts < 1):
            raise ConfigError(f"invalid `max_contexts` {max_contexts!r}: expected a positive integer or null")
        self.split = split
        self.include_clean = include_clean
        self.attacks = attacks
        self.seed = seed
        self.max_contexts = max_contexts

        self.benchmark = Path(bipia_root) / "benchmark"
        self.context_files = {task: self._context_file(task) for task in self.tasks}
        self.attack_lists = {
            kind: load_attacks(self._existing(self.benchmark / f"{kind}_attack_{split}.json"), kind)
            for kind in self._needed_kinds()
        }

    def attack_kinds(self, task: str) -> tuple[str, ...]:
        """Return the attack kinds inserted into `task`'s contexts."""
        if self.attacks == "both":
            return ATTACK_KINDS
        if self.attacks is None:
            return ("code",) if task == "code" else ("text",)
        return (self.attacks,)

    def _needed_kinds(self) -> set[str]:
        return {kind for task in self.tasks for kind in self.attack_kinds(task)} if self.positions else set()

    def _existing(self, path: Path) -> Path:
        if not path.is_file():
            msg = f"BIPIA file not found: {path}. Set `bipia_root` to the folder that holds `benchmark/`."
            raise DataError(msg)
        return path

    def _context_file(self, task: str) -> Path:
        path = self.benchmark / task / f"{self.split}.jsonl"
        if task in UNRELEASED_TASKS and not path.is_file():
            corpus = UNRELEASED_TASKS[task]
            msg = (
                f"BIPIA task {task!r}: context file {path} not found. BIPIA does not redistribute the {corpus} "
                f"contexts for license reasons and ships only the ids of the articles it uses "
                f"({path.parent / 'index.json'}) and the checksums of its files (md5.txt). Obtain {corpus}, write "
                f"train.jsonl and test.jsonl in {path.parent} with one JSON object per listed article (fields "
                f"{', '.join(UNRELEASED_FIELDS[task])}), or drop {task!r} from `tasks`."
            )
            raise ConfigError(msg)
        self._existing(path)
        if task in UNRELEASED_TASKS:
            _check_md5(path, path.parent / "md5.txt")
        return path

    def _selected_rows(self, task: str) -> list[tuple[int, dict[str, Any] | RowIssue]]:
        rows = list(enumerate(iter_file_records(self.context_files[task], "jsonl")))
        if self.max_contexts is None or self.max_contexts >= len(rows):
            return rows
        generator = random.Random(f"{self.seed}:{task}:{self.split}")
        kept_indexes = sorted(generator.sample(range(len(rows)), self.max_contexts))
        return [rows[index] for index in kept_indexes]

    def _iter_records(self) -> Iterator[Sample | RowIssue]:
        for task in self.tasks:
            attacks = [attack for kind in self.attack_kinds(task) for attack in self.attack_lists.get(kind, ())]
            for context_index, row in self._selected_rows(task):
                if isinstance(row, RowIssue):
                    yield row
                    continue
                text = as_text(row.get("context"))
                split_index = middle_split(text) if text is not None and "middle" in self.positions else None
                context = Context(task, context_index, row, text, split_index)
                if self.include_clean:
                    yield Sample(context, None, None)
                for attack in attacks:
                    for position in self.positions:
                        yield Sample(context, attack, position)

    def _build_prompt(self, index: int, record: Sample, dataset_id: str) -> PromptSpec | RejectedRow:
        context, attack, position = record.context, record.attack, record.position
        prompt_id = f"{context.task}-{self.split}-{context.index}"
        if attack is not None:
            prompt_id += f"-{attack.kind}-{attack.category_index}-{attack.index}-{position}"
        else:
            prompt_id += "-clean"
        where = f"dataset {dataset_id!r} prompt {prompt_id!r} ({self.context_files[context.task]} row {context.index})"

        if context.text is None:
            message = f"{where}: field 'context' must be a string or a list of strings"
            return RejectedRow(prompt_id, dataset_id, "invalid_context", message)
        if not context.text.strip():
            return RejectedRow(prompt_id, dataset_id, "empty_context", f"{where}: the context is empty")
        if position == "middle" and context.split_index is None:
            message = f"{where}: the context has no index with text on both sides for a middle insertion"
            return RejectedRow(prompt_id, dataset_id, "context_too_short", message)

        text = context.text
        if attack is not None:
            text = insert_attack(text, attack.text, position, context.split_index)
        messages = (
            Message("system", TASK_FORMATS[context.task].system),
            Message("user", render_user_turn(context.task, text, context.row)),
        )

        labels = {field: value for field, value in context.row.items() if field not in PROMPT_FIELDS}
        labels.update(
            task=context.task,
            split=self.split,
            context_index=context.index,
            position=position,
            attack_kind=attack.kind if attack else None,
            attack_category=attack.category if attack else None,
            attack_index=attack.index if attack else None,
            attack_text=attack.text if attack else None,
            malicious=attack is not None,
        )
        return PromptSpec(prompt_id=prompt_id, dataset_id=dataset_id, messages=messages, labels=labels)

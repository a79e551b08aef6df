"""Email datasets from the Hugging Face hub: benign Enron mail and LLMail-Inject attack emails."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowIssue
from pm_plugins_datasets.hub_common import PROMPT_FIELD, HubPromptDataset, is_blank
from pm_plugins_datasets.hub_layout import DataFiles, resolve_data_files
from pm_plugins_datasets.readers import iter_files_records

logger = logging.getLogger(__name__)


def render_email(headers: dict[str, str], body: str) -> str:
    """Render an RFC 5322-style message as plain text: one `Name: value` line per header, a blank line, the body."""
    header_lines = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return f"{header_lines}\n{body}"


class EnronDataset(HubPromptDataset):
    """Emails from a 40k-message sample of the Enron corpus, all benign.

    Hub id `amanneo/enron-mail-corpus-mini`, files `data/{train,test}-*.parquet`.
    Columns: `text` is the mail and `mail_length` stays in `labels`. `malicious`
    is false for every row.

    With `wrap_as_email`, the prompt is the text rendered as an email: `From`, `To`
    and `Subject` header lines from `sender`, `recipient` and `subject`, a blank
    line, then the text. A blank text is then rejected as `empty_prompt`, because
    the headers alone would look like a real prompt.
    """

    # NOTE: the card lists only `text` and `mail_length`, so whether `text`
    # already starts with the original headers was not checked.
    HUB_ID = "amanneo/enron-mail-corpus-mini"
    TEXT_FIELD = "text"
    LABEL_VALUE = False

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str | None = None,
        split: str | None = None,
        data_files: DataFiles | None = None,
        revision: str | None = None,
        wrap_as_email: bool = False,
        sender: str = "sender@enron.com",
        recipient: str = "recipient@enron.com",
        subject: str = "(no subject)",
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        super().__init__(path, hub_id, split, data_files, revision, system_prompt, raw)
        self.wrap_as_email = wrap_as_email
        self.headers = {"From": sender, "To": recipient, "Subject": subject}

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        body = record.get(self.TEXT_FIELD)
        if not self.wrap_as_email or not isinstance(body, str):
            return self.mapping.build(index, record, dataset_id)
        if not body.strip():
            message = f"dataset {dataset_id!r} row {index}: email body {self.TEXT_FIELD!r} is empty"
            return RejectedRow(str(index), dataset_id, "empty_prompt", message)
        return self.mapping.build(index, {**record, self.TEXT_FIELD: render_email(self.headers, body)}, dataset_id)


LLMAIL_PHASES = ("Phase1", "Phase2")
#: Files of each phase in the hub repository, as its dataset card maps them to splits.
LLMAIL_DATA_FILES = {
    "Phase1": "data/raw_submissions_phase1.jsonl",
    "Phase2": "data/raw_submissions_phase2.jsonl",
}
LLMAIL_EMAIL_FORMATS = ("body", "subject_body", "llmail")


class LLMailDataset(HubPromptDataset):
    """Attack emails submitted to the LLMail-Inject challenge (Microsoft, 2024-2025), all malicious.

    Hub id `microsoft/llmail-inject-challenge`. The splits `Phase1` and `Phase2` are
    `data/raw_submissions_phase1.jsonl` and `data/raw_submissions_phase2.jsonl`.
    `phases` chooses the splits, read in the given order. Columns used: `subject`
    and `body` form the prompt, and every other field (`scenario`, `objectives`, ...)
    stays in `labels`, with `phase` added. `malicious` is true for every row,
    because each submission is an attack, whether or not its `objectives` were met.

    `email_format` renders the prompt: `body` (the body only), `subject_body`
    (`Subject: <subject>`, a blank line, the body) or `llmail` (`Subject of the
    email: <subject>.   Body: <body>`). A row without `body` is rejected as
    `missing_text`, one whose subject and body are both blank as `empty_prompt`.
    """

    # NOTE: the `llmail` format was taken from attack examples quoted by a third
    # party, not from the challenge's code, so it may differ from what the
    # challenge's model saw.
    HUB_ID = "microsoft/llmail-inject-challenge"
    TEXT_FIELD = PROMPT_FIELD
    LABEL_VALUE = True

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str | None = None,
        phases: Sequence[str] = LLMAIL_PHASES,
        data_files: DataFiles | None = None,
        revision: str | None = None,
        email_format: str = "subject_body",
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if isinstance(phases, str):
            phases = [phases]
        self.phases = tuple(phases)
        unknown = [phase for phase in self.phases if phase not in LLMAIL_PHASES]
        if not self.phases or unknown:
            msg = f"invalid LLMail phases {list(phases)!r}: expected one or more of {', '.join(LLMAIL_PHASES)}"
            raise ConfigError(msg)
        if email_format not in LLMAIL_EMAIL_FORMATS:
            msg = f"unknown LLMail email_format {email_format!r}: expected one of {', '.join(LLMAIL_EMAIL_FORMATS)}"
            raise ConfigError(msg)
        self.email_format = email_format

        # A local folder does not name the phases the way `find_split_files` expects, so map them to files.
        if path is not None and data_files is None and not Path(path).is_file():
            data_files = LLMAIL_DATA_FILES
        super().__init__(path, hub_id, self.phases[0], data_files, revision, system_prompt, raw)

        self.phase_files: dict[str, list[Path]] = {}
        if self.hub_id is None:
            self.phase_files = self._files_per_phase(Path(os.path.expanduser(os.fspath(path))))

    def _files_per_phase(self, location: Path) -> dict[str, list[Path]]:
        if location.is_file():
            if len(self.phases) > 1:
                msg = f"{location} is one file, so it can contain only one phase. Set `phases` to one of {self.phases}"
                raise ConfigError(msg)
            return {self.phases[0]: [location]}
        return {phase: resolve_data_files(location, self.data_files, phase) for phase in self.phases}

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        for phase in self.phases:
            if self.hub_id is None:
                rows = iter_files_records(self.phase_files[phase])
            else:
                rows = self._iter_hub_records(split=phase)
            for row in rows:
                yield row if isinstance(row, RowIssue) else {**row, "phase": phase}

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        where = f"dataset {dataset_id!r} row {index}"
        body = record.get("body")
        subject = record.get("subject")
        if body is None:
            return RejectedRow(str(index), dataset_id, "missing_text", f"{where}: field 'body' is missing")
        if not isinstance(body, str) or not isinstance(subject, str | None):
            kinds = f"{type(subject).__name__} and {type(body).__name__}"
            message = f"{where}: invalid 'subject' and 'body': expected strings, got {kinds}"
            return RejectedRow(str(index), dataset_id, "invalid_text", message)
        if is_blank(body) and is_blank(subject):
            return RejectedRow(str(index), dataset_id, "empty_prompt", f"{where}: 'subject' and 'body' are both empty")

        derived = {field: value for field, value in record.items() if field != "body"}
        derived[PROMPT_FIELD] = self._render(subject or "", body)
        return self.mapping.build(index, derived, dataset_id)

    def _render(self, subject: str, body: str) -> str:
        if self.email_format == "body":
            return body
        if self.email_format == "llmail":
            return f"Subject of the email: {subject}.   Body: {body}"
        return render_email({"Subject": subject}, body)

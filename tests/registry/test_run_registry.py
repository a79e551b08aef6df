"""Registration, status changes, config snapshots and queries of the run registry."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pm_core.registry import REGISTRY_FILE, RunItem, RunRegistry, UnknownRunError
from pm_core.registry.migrations import MIGRATIONS, applied_migrations, apply_migrations
from pm_core.registry.runs import SUPERSEDED_RUN_SQL


def item(key: str, fingerprint: str = "fp-1", dataset: str = "dolly", **labels: object) -> RunItem:
    return RunItem(
        prompt_id=f"prompt-{key}",
        dataset_id=dataset,
        run_key=key,
        processing_fingerprint=fingerprint,
        labels=dict(labels),
    )


def count_rows(registry: RunRegistry) -> int:
    with sqlite3.connect(registry.path) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


@pytest.fixture
def registry(tmp_path: Path) -> RunRegistry:
    return RunRegistry(tmp_path)


class TestRegisterRuns:
    def test_new_run_is_pending(self, registry: RunRegistry) -> None:
        (handle,) = registry.register_runs([item("a")])
        assert handle.status == "pending"
        assert handle.is_done is False
        assert len(handle.run_id) == 32
        record = registry.get(handle.run_id)
        assert record is not None
        assert record.prompt_id == "prompt-a"
        assert record.supersedes is None

    def test_registry_file_in_output_dir(self, tmp_path: Path) -> None:
        RunRegistry(tmp_path)
        assert (tmp_path / REGISTRY_FILE).is_file()

    def test_missing_output_dir_created(self, tmp_path: Path) -> None:
        registry = RunRegistry(tmp_path / "new-run")
        assert registry.path == tmp_path / "new-run" / REGISTRY_FILE
        assert registry.path.is_file()

    def test_explicit_file_path_kept(self, tmp_path: Path) -> None:
        registry = RunRegistry(tmp_path / "other.sqlite")
        assert registry.path == tmp_path / "other.sqlite"
        assert registry.path.is_file()

    def test_completed_run_is_done(self, registry: RunRegistry) -> None:
        (first,) = registry.register_runs([item("a")])
        registry.mark_completed([(first.run_id, "shard-0", 3, None)])
        (again,) = registry.register_runs([item("a")])
        assert again.run_id == first.run_id
        assert again.status == "completed"
        assert again.is_done is True
        assert count_rows(registry) == 1

    def test_skipped_run_is_done(self, registry: RunRegistry) -> None:
        (first,) = registry.register_runs([item("a")])
        registry.mark_skipped(first.run_id, "empty_prompt", "the prompt is empty")
        (again,) = registry.register_runs([item("a")])
        assert again.is_done is True
        assert again.status == "skipped"

    def test_failed_run_retried_in_place(self, registry: RunRegistry) -> None:
        (first,) = registry.register_runs([item("a")])
        registry.mark_running([first.run_id])
        registry.mark_failed(first.run_id, "non_finite_activation", "layer 4 is inf", {"dtype": "float32"})
        (retry,) = registry.register_runs([item("a")])
        assert retry.run_id == first.run_id
        assert retry.status == "pending"
        assert retry.is_done is False
        record = registry.get(first.run_id)
        assert record is not None
        assert record.reason is None
        assert record.message is None
        assert record.metadata == {"dtype": "float32"}
        assert count_rows(registry) == 1

    def test_running_run_reset_to_pending(self, registry: RunRegistry) -> None:
        (first,) = registry.register_runs([item("a")])
        registry.mark_running([first.run_id])
        (retry,) = registry.register_runs([item("a")])
        assert retry.run_id == first.run_id
        assert retry.status == "pending"

    def test_changed_fingerprint_supersedes(self, registry: RunRegistry) -> None:
        (old,) = registry.register_runs([item("a", "fp-1")])
        registry.mark_completed([(old.run_id, "shard-0", 0, None)])
        (new,) = registry.register_runs([item("a", "fp-2")])
        assert new.run_id != old.run_id
        assert new.is_done is False
        record = registry.get(new.run_id)
        assert record is not None
        assert record.supersedes == old.run_id
        assert count_rows(registry) == 2

    def test_unfinished_run_not_superseded(self, registry: RunRegistry) -> None:
        registry.register_runs([item("a", "fp-1")])
        (new,) = registry.register_runs([item("a", "fp-2")])
        record = registry.get(new.run_id)
        assert record is not None
        assert record.supersedes is None

    def test_duplicate_items_in_one_batch(self, registry: RunRegistry) -> None:
        handles = registry.register_runs([item("a"), item("a"), item("b")])
        assert handles[0].run_id == handles[1].run_id
        assert handles[0].run_id != handles[2].run_id
        assert count_rows(registry) == 2

    def test_register_run_idempotency_key(self, registry: RunRegistry) -> None:
        first = registry.register_run(idempotency_key="k", processing_fingerprint="fp")
        second = registry.register_run("k", "fp")
        assert first.run_id == second.run_id
        record = registry.get(first.run_id)
        assert record is not None
        assert record.prompt_id == "k"

    def test_register_run_rejects_both_keys(self, registry: RunRegistry) -> None:
        with pytest.raises(TypeError, match="not both"):
            registry.register_run("k", "fp", idempotency_key="k")


class TestStatusChanges:
    def test_completed_metadata_merged(self, registry: RunRegistry) -> None:
        (handle,) = registry.register_runs([item("a")])
        registry.mark_failed(handle.run_id, "oom", "out of memory", {"dtype": "float32", "n_tokens": 9})
        registry.register_runs([item("a")])
        registry.mark_completed([(handle.run_id, "shard-1", 7, {"n_tokens": 12, "attn_implementation": "sdpa"})])
        record = registry.get(handle.run_id)
        assert record is not None
        assert record.status == "completed"
        assert record.shard == "shard-1"
        assert record.row == 7
        assert record.metadata == {"dtype": "float32", "n_tokens": 12, "attn_implementation": "sdpa"}

    def test_unknown_run_changes_nothing(self, registry: RunRegistry) -> None:
        (handle,) = registry.register_runs([item("a")])
        with pytest.raises(UnknownRunError, match="no run with id 'missing'"):
            registry.mark_completed([(handle.run_id, "shard-0", 0, None), ("missing", "shard-0", 1, None)])
        record = registry.get(handle.run_id)
        assert record is not None
        assert record.status == "pending"

    def test_repeated_run_id_accepted(self, registry: RunRegistry) -> None:
        (handle,) = registry.register_runs([item("a")])
        registry.mark_running([handle.run_id, handle.run_id])
        record = registry.get(handle.run_id)
        assert record is not None
        assert record.status == "running"


class TestConfigs:
    def test_config_round_trip(self, registry: RunRegistry) -> None:
        snapshot = {"model": {"name": "smollm2"}, "run": {"layers": [4, 12]}}
        config_id = registry.save_config(snapshot)
        assert registry.config(config_id) == snapshot
        canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
        assert config_id == hashlib.sha256(canonical.encode()).hexdigest()
        assert registry.save_config(dict(reversed(list(snapshot.items())))) == config_id

    def test_unknown_config_raises(self, registry: RunRegistry) -> None:
        with pytest.raises(UnknownRunError, match="no config with id 'nope'"):
            registry.config("nope")


class TestQueries:
    @pytest.fixture
    def filled(self, registry: RunRegistry) -> RunRegistry:
        handles = registry.register_runs([item(f"k{i}", dataset=f"d{i % 2}", y=i % 2) for i in range(6)])
        registry.mark_completed([(h.run_id, "shard-0", i, None) for i, h in enumerate(handles[:4])])
        registry.mark_failed(handles[4].run_id, "oom", "out of memory")
        return registry

    def test_completed_rows_columns(self, filled: RunRegistry) -> None:
        columns = filled.completed_rows()
        assert list(columns) == ["run_id", "dataset_id", "prompt_id", "shard", "row", "labels"]
        assert columns["row"].dtype == np.int64
        assert columns["row"].tolist() == [0, 1, 2, 3]
        assert columns["shard"].tolist() == ["shard-0"] * 4
        assert columns["prompt_id"].tolist() == ["prompt-k0", "prompt-k1", "prompt-k2", "prompt-k3"]
        assert [json.loads(text) for text in columns["labels"]] == [{"y": 0}, {"y": 1}, {"y": 0}, {"y": 1}]

    def test_completed_rows_by_dataset(self, filled: RunRegistry) -> None:
        columns = filled.completed_rows(dataset_ids=["d1"])
        assert columns["dataset_id"].tolist() == ["d1", "d1"]
        empty = filled.completed_rows(dataset_ids=[])
        assert all(len(values) == 0 for values in empty.values())
        assert empty["row"].dtype == np.int64

    def test_completed_rows_other_status(self, filled: RunRegistry) -> None:
        failed = filled.completed_rows(status="failed")
        assert failed["row"].tolist() == [-1]
        assert failed["shard"].tolist() == [None]
        with pytest.raises(ValueError, match="invalid run status 'done'"):
            filled.completed_rows(status="done")

    def test_status_counts(self, filled: RunRegistry) -> None:
        assert filled.status_counts() == {
            "d0": {"completed": 2, "failed": 1},
            "d1": {"completed": 2, "pending": 1},
        }

    def test_reason_counts(self, filled: RunRegistry) -> None:
        (handle,) = filled.register_runs([item("k9", dataset="d1")])
        filled.mark_skipped(handle.run_id, "empty_prompt", "the prompt is empty")
        assert filled.reason_counts() == {("d0", "failed", "oom"): 1, ("d1", "skipped", "empty_prompt"): 1}

    def test_runs_filters(self, filled: RunRegistry) -> None:
        assert len(filled.runs({"status": "completed"})) == 4
        assert len(filled.runs({"status": ["failed", "pending"]})) == 2
        assert [r.run_key for r in filled.runs({"status": "completed", "dataset_id": "d0"})] == ["k0", "k2"]
        assert len(filled.runs({"shard": None})) == 2
        assert len(filled.runs()) == 6

    def test_runs_rejects_unknown_column(self, filled: RunRegistry) -> None:
        with pytest.raises(ValueError, match="cannot filter runs on 'labels'"):
            filled.runs({"labels": "{}"})

    def test_record_to_dict(self, filled: RunRegistry) -> None:
        record = filled.runs({"status": "failed"})[0].to_dict()
        assert record["reason"] == "oom"
        assert record["labels"] == {"y": 0}
        assert next(iter(record)) == "run_id"
        assert len(record) == 16

    def test_get_missing_is_none(self, filled: RunRegistry) -> None:
        assert filled.get("0" * 32) is None


class TestMigrations:
    def test_all_applied_once(self, registry: RunRegistry, tmp_path: Path) -> None:
        names = [function.__name__ for function in MIGRATIONS]
        assert names == sorted(names)
        assert all(name.startswith("m") and name[1:4].isdigit() for name in names)
        RunRegistry(tmp_path)
        with sqlite3.connect(registry.path) as connection:
            assert applied_migrations(connection) == names
            assert apply_migrations(connection) == []
            assert applied_migrations(connection) == names

    def test_reopen_keeps_runs(self, registry: RunRegistry, tmp_path: Path) -> None:
        (handle,) = registry.register_runs([item("a")])
        registry.close()
        reopened = RunRegistry(tmp_path)
        assert reopened.get(handle.run_id) is not None


def test_supersede_lookup_uses_key_index(registry: RunRegistry) -> None:
    """With the status index, the lookup would scan all completed runs for every registration."""
    with sqlite3.connect(registry.path) as connection:
        plan = connection.execute(f"EXPLAIN QUERY PLAN {SUPERSEDED_RUN_SQL}", ("k",)).fetchall()
    details = " ".join(row[-1] for row in plan)
    assert "runs_by_key" in details

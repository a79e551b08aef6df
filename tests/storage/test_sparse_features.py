"""Sparse feature tables: writer, CSR loading, top prompts, frequency, and many writers at once."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from pm_core.errors import ConfigError
from pm_core.readers.classification import ClassificationDataset
from pm_core.registry import RunItem, RunRegistry
from pm_core.storage.features import FEATURES_SCHEMA, FEATURES_TABLE, SparseFeatureReader, SparseFeatureWriter
from pm_core.storage.indexes import index_output_dir
from pm_core.storage.lance_tables import open_table
from pm_core.storage.layout import LANCE_DIR
from pm_core.storage.outputs import OutputWriter

D_SAE = 32
LAYER = 3
DICTIONARY = "release/sae-3"


def register(registry: RunRegistry, prompts: list[tuple[str, str, int]], fingerprint: str = "v1") -> list[str]:
    items = [
        RunItem(
            prompt_id=prompt_id,
            dataset_id=dataset_id,
            run_key=f"{dataset_id}/{prompt_id}",
            processing_fingerprint=fingerprint,
            labels={"malicious": label},
        )
        for prompt_id, dataset_id, label in prompts
    ]
    return [handle.run_id for handle in registry.register_runs(items)]


def write_runs(output_dir: Path, run_ids: list[str], features: dict[str, tuple[list[int], list[float]]], shard="s0"):
    writer = SparseFeatureWriter(output_dir, shard, flush_rows=2)
    writer.declare_dictionary(DICTIONARY, D_SAE)
    for run_id in run_ids:
        indices, values = features[run_id]
        writer.add(run_id, DICTIONARY, LAYER, -1, indices, values)
    return writer.close()


PROMPTS = [("p0", "alpha", 1), ("p1", "alpha", 0), ("p2", "beta", 1), ("p3", "beta", 0)]
FEATURES = [([1, 5], [0.5, 2.0]), ([5], [3.0]), ([], []), ([1, 7, 31], [1.0, 0.25, 4.0])]


@pytest.fixture
def store(tmp_path: Path):
    registry = RunRegistry(tmp_path)
    run_ids = register(registry, PROMPTS)
    committed = write_runs(tmp_path, run_ids, dict(zip(run_ids, FEATURES, strict=True)))
    assert committed == run_ids
    registry.mark_completed([(run_id, "s0", -1, None) for run_id in run_ids])
    return tmp_path, registry, run_ids


def expected_dense(features) -> np.ndarray:
    dense = np.zeros((len(features), D_SAE), dtype=np.float32)
    for row, (indices, values) in enumerate(features):
        dense[row, indices] = values
    return dense


def test_load_sae_csr_exact(store) -> None:
    output_dir, _, run_ids = store
    data = ClassificationDataset(output_dir).load(layer=LAYER, space="sae", position=-1, return_sparse=True)
    assert sp.issparse(data.X)
    assert data.X.shape == (4, D_SAE)
    assert np.array_equal(data.X.toarray(), expected_dense(FEATURES))
    assert data.run_ids.tolist() == run_ids
    assert data.y.tolist() == [1, 0, 1, 0]
    assert data.datasets.tolist() == ["alpha", "alpha", "beta", "beta"]
    assert data.metadata["d_sae"] == D_SAE


def test_load_sae_dense_and_pools(store) -> None:
    output_dir, _, run_ids = store
    writer = SparseFeatureWriter(output_dir, "s0", flush_rows=10)
    writer.add(run_ids[0], DICTIONARY, LAYER, -2, [5, 9], [1.0, 6.0])
    writer.close()
    dataset = ClassificationDataset(output_dir)
    dense = dataset.load(layer=LAYER, space="sae", position=-1, return_sparse=False).X
    assert isinstance(dense, np.ndarray)

    pooled = dataset.load(layer=LAYER, space="sae", position=[-1, -2], pool="max", return_sparse=True)
    assert pooled.X.shape == (4, D_SAE)
    assert pooled.X[0, 5] == 2.0
    assert pooled.X[0, 9] == 6.0
    assert pooled.valid.sum() == 5

    concat = dataset.load(layer=LAYER, space="sae", position=[-1, -2], pool="concat", keep_invalid=True)
    assert concat.X.shape == (4, 2 * D_SAE)
    assert concat.X[0, D_SAE + 9] == 6.0
    dropped = dataset.load(layer=LAYER, space="sae", position=[-1, -2], pool="concat")
    assert dropped.run_ids.tolist() == [run_ids[0]]

    mean = dataset.load(layer=LAYER, space="sae", position=[-1, -2], pool="mean", return_sparse=True)
    assert mean.X[0, 5] == pytest.approx(1.5)


def test_top_prompts_order_values(store) -> None:
    output_dir, _, run_ids = store
    top = ClassificationDataset(output_dir).top_prompts(feature=5, layer=LAYER, k=10)
    assert [item["run_id"] for item in top] == [run_ids[1], run_ids[0]]
    assert [item["value"] for item in top] == [3.0, 2.0]
    assert top[0]["prompt_id"] == "p1"
    assert top[0]["dataset_id"] == "alpha"
    assert len(ClassificationDataset(output_dir).top_prompts(feature=1, layer=LAYER, k=1)) == 1


def test_top_prompts_carry_prompt_text(store) -> None:
    output_dir, _, run_ids = store
    assert [item["text"] for item in ClassificationDataset(output_dir).top_prompts(feature=5, layer=LAYER)] == [
        None,
        None,
    ]
    writer = OutputWriter(output_dir)
    for number, run_id in enumerate(run_ids):
        writer.add(
            {
                "run_id": run_id,
                "shard": "s0",
                "generated_text": "",
                "generated_ids": [],
                "topk_ids": [],
                "topk_values": [],
                "input_ids": [1, 2],
                "prompt_text": f"prompt number {number}",
            }
        )
    writer.flush()
    index_output_dir(output_dir)

    top = ClassificationDataset(output_dir).top_prompts(feature=5, layer=LAYER)
    assert [item["text"] for item in top] == ["prompt number 1", "prompt number 0"]
    assert "text" not in ClassificationDataset(output_dir).top_prompts(feature=5, layer=LAYER, with_text=False)[0]


def test_top_prompts_with_btree_index(store) -> None:
    output_dir, registry, run_ids = store
    SparseFeatureReader(output_dir).create_feature_index()
    [late_run] = register(registry, [("p9", "beta", 1)])
    write_runs(output_dir, [late_run], {late_run: ([5], [2.5])})
    registry.mark_completed([(late_run, "s0", -1, None)])

    top = ClassificationDataset(output_dir).top_prompts(feature=5, layer=LAYER, k=10)
    assert [item["run_id"] for item in top] == [run_ids[1], late_run, run_ids[0]]
    assert [item["value"] for item in top] == [3.0, 2.5, 2.0]


def test_load_sae_rejects_unknown_names(store) -> None:
    output_dir, _, _ = store
    dataset = ClassificationDataset(output_dir)
    with pytest.raises(ConfigError, match="not stored"):
        dataset.load(layer=LAYER, space="sae", dictionary="other")
    with pytest.raises(ConfigError, match="invalid pool"):
        dataset.load(layer=LAYER, space="sae", position=[-1, -2], pool="median")
    with pytest.raises(ConfigError, match="invalid feature"):
        dataset.top_prompts(feature=D_SAE, layer=LAYER)


def test_unencoded_site_named_not_empty(store) -> None:
    output_dir, _, _ = store
    dataset = ClassificationDataset(output_dir)
    with pytest.raises(ConfigError, match=rf"no features at layer 9; stored layers: \[{LAYER}\]"):
        dataset.load(layer=9, space="sae")
    with pytest.raises(ConfigError, match=r"no features at positions \[-7\]; stored: \[-1\]"):
        dataset.load(layer=LAYER, space="sae", position=-7)
    with pytest.raises(ConfigError, match=r"no features at layer 9"):
        dataset.top_prompts(feature=1, layer=9)
    with pytest.raises(ConfigError, match=r"no features at layer 9"):
        dataset.feature_frequency(1, 9)
    # A feature that fires nowhere at a stored site is simply absent.
    assert dataset.top_prompts(feature=20, layer=LAYER) == []


def test_several_dictionaries_need_a_choice(store) -> None:
    output_dir, _, run_ids = store
    writer = SparseFeatureWriter(output_dir, "s0")
    writer.declare_dictionary("second", D_SAE)
    writer.add(run_ids[0], "second", LAYER, -1, [2], [1.0])
    writer.close()
    with pytest.raises(ConfigError, match=r"2 dictionaries are stored \(release/sae-3, second\); choose one"):
        ClassificationDataset(output_dir).load(layer=LAYER, space="sae")


def test_feature_frequency_groups(store) -> None:
    output_dir, _, _ = store
    dataset = ClassificationDataset(output_dir)
    assert dataset.feature_frequency(1, LAYER, by="dataset") == {"alpha": 0.5, "beta": 0.5}
    assert dataset.feature_frequency(5, LAYER, by="dataset") == {"alpha": 1.0, "beta": 0.0}
    assert dataset.feature_frequency(5, LAYER, by="label") == {0: 0.5, 1: 0.5}
    everything = dataset.feature_frequency(None, LAYER, by="label")
    assert everything[0][31] == 0.5
    assert everything[1][31] == 0.0


def test_superseded_run_appears_once(store) -> None:
    output_dir, registry, run_ids = store
    [new_run] = register(registry, [PROMPTS[1]], fingerprint="v2")
    write_runs(output_dir, [new_run], {new_run: ([5, 6], [9.0, 1.0])}, shard="s1")
    # A killed attempt left a row in another shard that the registry never recorded.
    write_runs(output_dir, [new_run], {new_run: ([5], [100.0])}, shard="orphan")
    registry.mark_completed([(new_run, "s1", -1, None)])

    dataset = ClassificationDataset(output_dir)
    data = dataset.load(layer=LAYER, space="sae", position=-1, return_sparse=True)
    assert data.prompt_ids.tolist().count("p1") == 1
    assert new_run in data.run_ids.tolist()
    assert run_ids[1] not in data.run_ids.tolist()
    assert data.X[data.run_ids.tolist().index(new_run), 5] == 9.0

    top = dataset.top_prompts(feature=5, layer=LAYER, k=10)
    assert [(item["run_id"], item["value"]) for item in top] == [(new_run, 9.0), (run_ids[0], 2.0)]


def test_readable_after_partial_flush(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path)
    run_ids = register(registry, PROMPTS)
    writer = SparseFeatureWriter(tmp_path, "s0", flush_rows=2)
    writer.declare_dictionary(DICTIONARY, D_SAE)
    for run_id, (indices, values) in zip(run_ids[:3], FEATURES[:3], strict=True):
        writer.add(run_id, DICTIONARY, LAYER, -1, indices, values)
    assert writer.buffered_rows == 1
    registry.mark_completed([(run_id, "s0", -1, None) for run_id in run_ids[:2]])

    data = ClassificationDataset(tmp_path).load(layer=LAYER, space="sae", return_sparse=True)
    assert data.run_ids.tolist() == run_ids[:2]
    assert np.array_equal(data.X.toarray(), expected_dense(FEATURES[:2]))
    writer.close()


N_PROCESSES = 8
ROWS_PER_PROCESS = 50
FLUSH_ROWS = 25


def write_process(output_dir: str, process: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        # Every process creates the tables right after the barrier, so the creations race.
        writer = SparseFeatureWriter(output_dir, f"shard-{process}", flush_rows=FLUSH_ROWS)
        for index in range(ROWS_PER_PROCESS):
            writer.add(f"p{process}-r{index}", DICTIONARY, index % 3, -1, [index % D_SAE], [1.0])
        writer.close()
        results.put((process, None))
    except BaseException:
        results.put((process, traceback.format_exc()))


def test_parallel_writers_create_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(N_PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=write_process, args=(str(tmp_path), process, barrier, results))
        for process in range(N_PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    errors = [error for _, error in outcomes if error is not None]
    assert not errors, "\n".join(errors)

    table = open_table(tmp_path / LANCE_DIR, FEATURES_TABLE, FEATURES_SCHEMA, create=False)
    rows = table.to_arrow().to_pylist()
    keys = [(row["run_id"], row["layer"]) for row in rows]
    expected = {(f"p{p}-r{i}", i % 3) for p in range(N_PROCESSES) for i in range(ROWS_PER_PROCESS)}
    assert len(keys) == N_PROCESSES * ROWS_PER_PROCESS
    assert set(keys) == expected
    flushes = N_PROCESSES * ROWS_PER_PROCESS // FLUSH_ROWS
    assert table.stats()["fragment_stats"]["num_fragments"] <= flushes
    assert len(SparseFeatureReader(tmp_path).read(DICTIONARY, 0, [-1])) == sum(1 for _, layer in expected if layer == 0)

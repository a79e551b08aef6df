"""Writing activation shards and reading rows back by location."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pm_core.errors import StorageError
from pm_core.storage import ActivationReader, ActivationWriter
from pm_core.storage.activation_reader import _chunk_runs

SITES = [("resid_post", 4), ("resid_post", 12)]
OFFSETS = (-5, -1)
D_MODEL = 8


def make_batch(start: int, size: int, sites=SITES) -> tuple[list[str], dict, np.ndarray, np.ndarray]:
    """Rows whose value encodes (row, site, position) so any misplaced row shows."""
    run_ids = [f"run{row:05d}" for row in range(start, start + size)]
    activations = {}
    for site_index, site in enumerate(sites):
        values = np.zeros((size, len(OFFSETS), D_MODEL), dtype=np.float32)
        for row in range(size):
            for position in range(len(OFFSETS)):
                values[row, position] = (start + row) * 100 + site_index * 10 + position
        activations[site] = values
    valid = np.ones((size, len(OFFSETS)), dtype=bool)
    valid[:, 0] = np.arange(start, start + size) % 3 != 0
    token_positions = np.tile(np.array([3, 7], dtype=np.int32), (size, 1))
    return run_ids, activations, valid, token_positions


def writer(path: Path, shard: str = "shard-a", **options) -> ActivationWriter:
    return ActivationWriter(path, shard, SITES, OFFSETS, D_MODEL, **options)


class TestActivationWriter:
    def test_flush_returns_durable_rows(self, tmp_path: Path) -> None:
        shard = writer(tmp_path, flush_rows=100)
        shard.append(*make_batch(0, 4))
        assert shard.buffered_rows == 4
        assert ActivationReader(tmp_path).n_rows("shard-a") == 0
        locations = shard.flush()
        assert [(loc.run_id, loc.shard, loc.row) for loc in locations] == [
            (f"run{row:05d}", "shard-a", row) for row in range(4)
        ]
        assert ActivationReader(tmp_path).n_rows("shard-a") == 4
        assert shard.flush() == []

    def test_append_writes_at_flush_rows(self, tmp_path: Path) -> None:
        shard = writer(tmp_path, flush_rows=5)
        shard.append(*make_batch(0, 3))
        shard.append(*make_batch(3, 3))
        assert shard.buffered_rows == 0
        assert ActivationReader(tmp_path).n_rows("shard-a") == 6
        shard.append(*make_batch(6, 1))
        # flush reports the rows append wrote on its own as well as the ones it writes now.
        assert [loc.row for loc in shard.flush()] == list(range(7))
        assert shard.flush() == []

    def test_reopen_appends_after_rows(self, tmp_path: Path) -> None:
        first = writer(tmp_path)
        first.append(*make_batch(0, 3))
        first.close()
        second = writer(tmp_path)
        assert second.n_rows == 3
        second.append(*make_batch(3, 2))
        assert [loc.row for loc in second.close()] == [3, 4]
        assert ActivationReader(tmp_path).run_ids("shard-a") == [f"run{row:05d}" for row in range(5)]

    def test_reopen_other_settings_rejected(self, tmp_path: Path) -> None:
        writer(tmp_path).close()
        with pytest.raises(StorageError, match="was written with"):
            ActivationWriter(tmp_path, "shard-a", SITES, (-1,), D_MODEL)
        # The rejected writer released its lock, so the shard can be opened again.
        writer(tmp_path).close()

    def test_second_writer_on_shard_rejected(self, tmp_path: Path) -> None:
        first = writer(tmp_path)
        with pytest.raises(StorageError, match="open in another writer"):
            writer(tmp_path)
        first.close()
        writer(tmp_path).close()

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ("missing_site", "expected exactly"),
            ("wrong_shape", r"shape \(2, 2, 7\), expected \(2, 2, 8\)"),
            ("non_finite", r"not finite in float32 for runs \['run00001'\]"),
            ("bad_valid", r"valid has shape \(2,\)"),
            ("long_run_id", "invalid run id"),
        ],
        ids=["missing site", "wrong shape", "non-finite", "bad valid", "long run id"],
    )
    def test_invalid_batch_rejected(self, tmp_path: Path, change: str, message: str) -> None:
        run_ids, activations, valid, positions = make_batch(0, 2)
        if change == "missing_site":
            del activations[SITES[0]]
        elif change == "wrong_shape":
            activations[SITES[0]] = activations[SITES[0]][:, :, :7]
        elif change == "non_finite":
            activations[SITES[1]][1, 0, 3] = np.inf
        elif change == "bad_valid":
            valid = valid[:, 0]
        elif change == "long_run_id":
            run_ids[0] = "x" * 33
        shard = writer(tmp_path)
        with pytest.raises(ValueError, match=message):
            shard.append(run_ids, activations, valid, positions)
        assert shard.buffered_rows == 0

    def test_float16_overflow_rejected(self, tmp_path: Path) -> None:
        run_ids, activations, valid, positions = make_batch(0, 2)
        activations[SITES[0]][0, 1, 0] = 1e6
        shard = writer(tmp_path, dtype="float16")
        with pytest.raises(ValueError, match=r"not finite in float16 for runs \['run00000'\]"):
            shard.append(run_ids, activations, valid, positions)

    def test_append_after_close_rejected(self, tmp_path: Path) -> None:
        shard = writer(tmp_path)
        shard.close()
        with pytest.raises(StorageError, match="is closed"):
            shard.append(*make_batch(0, 1))

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"offsets": (-1, 0)}, "invalid offsets"),
            ({"offsets": (-1, -1)}, "invalid offsets"),
            ({"dtype": "bfloat16"}, "invalid activation dtype"),
            ({"shard_id": "../escape"}, "invalid shard id"),
            ({"sites": [("resid.post", 1)]}, "invalid hook point"),
        ],
        ids=["positive offset", "repeated offset", "dtype", "shard id", "hook point"],
    )
    def test_invalid_settings_rejected(self, tmp_path: Path, options: dict, message: str) -> None:
        settings = {"shard_id": "s", "sites": SITES, "offsets": OFFSETS, "d_model": D_MODEL} | options
        with pytest.raises(ValueError, match=message):
            ActivationWriter(tmp_path, **settings)


class TestActivationReader:
    @pytest.fixture
    def stored(self, tmp_path: Path) -> Path:
        shard = writer(tmp_path, "shard-a", chunk_rows=4)
        for start in range(0, 20, 6):
            shard.append(*make_batch(start, min(6, 20 - start)))
        shard.close()
        other = writer(tmp_path, "shard-b", chunk_rows=4)
        other.append(*make_batch(100, 5))
        other.close()
        return tmp_path

    def test_lists_sites_and_offsets(self, stored: Path) -> None:
        reader = ActivationReader(stored)
        assert reader.shards() == ["shard-a", "shard-b"]
        assert reader.sites() == SITES
        assert reader.offsets() == OFFSETS
        assert reader.n_rows("shard-b") == 5

    def test_read_in_requested_order(self, stored: Path) -> None:
        reader = ActivationReader(stored)
        shards = ["shard-b", "shard-a", "shard-a", "shard-b", "shard-a", "shard-a"]
        rows = [2, 17, 0, 0, 9, 9]
        X, valid = reader.read(("resid_post", 12), [-1, -5], shards, rows)
        stored_rows = [102, 17, 0, 100, 9, 9]
        assert X.dtype == np.float32
        assert X.shape == (6, 2, D_MODEL)
        np.testing.assert_array_equal(X[:, 0, 0], [row * 100 + 11 for row in stored_rows])
        np.testing.assert_array_equal(X[:, 1, 0], [row * 100 + 10 for row in stored_rows])
        np.testing.assert_array_equal(valid[:, 1], [row % 3 != 0 for row in stored_rows])
        assert valid[:, 0].all()

    def test_read_whole_shard(self, stored: Path) -> None:
        reader = ActivationReader(stored)
        X, valid = reader.read(("resid_post", 4), [-1], ["shard-a"] * 20, np.arange(20))
        np.testing.assert_array_equal(X[:, 0, 0], np.arange(20) * 100 + 1)

    def test_read_pyarrow_locations(self, stored: Path) -> None:
        reader = ActivationReader(stored)
        shards = pa.chunked_array([pa.array(["shard-a", "shard-b"]), pa.array(["shard-a"])])
        rows = pa.array([5, 4, 6], type=pa.int64())
        X, _ = reader.read(("resid_post", 4), [-1], shards, rows)
        np.testing.assert_array_equal(X[:, 0, 0], [501, 10401, 601])

    def test_read_no_locations(self, stored: Path) -> None:
        X, valid = ActivationReader(stored).read(("resid_post", 4), [-1], [], [])
        assert X.shape == (0, 1, D_MODEL)
        assert valid.shape == (0, 1)

    @pytest.mark.parametrize(
        ("site", "offsets", "locations", "message"),
        [
            (("resid_post", 4), [-1], (["shard-a"], [20]), r"rows \[20\] are out of range"),
            (("resid_post", 4), [-2], (["shard-a"], [0]), r"has no offsets \[-2\]"),
            (("resid_pre", 4), [-1], (["shard-a"], [0]), "has no site 'resid_pre.4'"),
            (("resid_post", 4), [-1], (["shard-z"], [0]), "shard 'shard-z' not found"),
        ],
        ids=["row out of range", "offset", "site", "shard"],
    )
    def test_read_invalid_request(self, stored: Path, site, offsets, locations, message: str) -> None:
        with pytest.raises(StorageError, match=message):
            ActivationReader(stored).read(site, offsets, *locations)

    def test_float16_read_as_float32(self, tmp_path: Path) -> None:
        shard = writer(tmp_path, dtype="float16")
        shard.append(*make_batch(0, 3))
        shard.close()
        X, _ = ActivationReader(tmp_path).read(("resid_post", 4), [-1], ["shard-a"] * 3, [2, 0, 1])
        assert X.dtype == np.float32
        np.testing.assert_array_equal(X[:, 0, 0], [201, 1, 101])

    def test_missing_store_raises(self, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="no activations"):
            ActivationReader(tmp_path)


def test_chunk_runs_merge_neighbours() -> None:
    rows = np.array([0, 1, 5, 9, 10, 30])
    assert _chunk_runs(rows, 4, 33) == [(0, 12), (28, 32)]
    assert _chunk_runs(np.array([32]), 4, 33) == [(32, 33)]
    assert _chunk_runs(np.array([], dtype=np.int64), 4, 33) == []

"""`shard` and `limit` of `iter_prompts`, shared by every dataset through `RowDataset`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowDataset
from pm_plugins_datasets.injecagent import InjecAgentDataset
from pm_plugins_datasets.local import LocalFileDataset


class CountingDataset(RowDataset):
    """Yields `size` rows and records how many were read, to prove that `limit` stops reading."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.rows_read = 0

    def _iter_records(self) -> Iterator[int]:
        for index in range(self.size):
            self.rows_read += 1
            yield index

    def _build_prompt(self, index: int, record: int, dataset_id: str) -> PromptSpec:
        return PromptSpec.from_user_text(str(record), dataset_id, f"row {record}")


def _ids(items) -> list[str]:
    return [item.prompt_id for item in items]


class TestShards:
    @pytest.mark.parametrize("count", [1, 2, 3, 7, 12])
    def test_shards_partition_rows(self, count: int) -> None:
        dataset = CountingDataset(10)
        shards = [_ids(dataset.iter_prompts("d", shard=(index, count))) for index in range(count)]
        union = sorted((prompt_id for shard in shards for prompt_id in shard), key=int)
        assert union == [str(index) for index in range(10)]
        assert sum(len(shard) for shard in shards) == 10

    def test_shard_is_index_modulo_count(self) -> None:
        assert _ids(CountingDataset(10).iter_prompts("d", shard=(1, 3))) == ["1", "4", "7"]

    def test_rejected_rows_keep_their_shard(self, write_jsonl) -> None:
        path = write_jsonl([{"text": "a"}, "not json", {"text": ""}, {"text": "d"}])
        dataset = LocalFileDataset(path, label_value=0, raw=True)
        first = list(dataset.iter_prompts("d", shard=(0, 2)))
        second = list(dataset.iter_prompts("d", shard=(1, 2)))
        assert _ids(first) == ["0", "2"]
        assert _ids(second) == ["1", "3"]
        assert isinstance(first[1], RejectedRow)
        assert isinstance(second[0], RejectedRow)

    @pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0), (0,), "0/2", (0.0, 2)])
    def test_invalid_shard(self, shard) -> None:
        with pytest.raises(ConfigError, match="invalid shard"):
            CountingDataset(3).iter_prompts("d", shard=shard)

    def test_injecagent_shards_partition(self, data_root) -> None:
        dataset = InjecAgentDataset(data_root / "InjecAgent", setting="ds", variant="base")
        shards = [set(_ids(dataset.iter_prompts("ia", shard=(index, 4)))) for index in range(4)]
        assert [len(shard) for shard in shards] == [136, 136, 136, 136]
        assert len(set().union(*shards)) == 544
        assert all(shards[a].isdisjoint(shards[b]) for a in range(4) for b in range(a + 1, 4))


class TestLimit:
    def test_limit_stops_reading(self) -> None:
        dataset = CountingDataset(1000)
        assert _ids(dataset.iter_prompts("d", limit=3)) == ["0", "1", "2"]
        assert dataset.rows_read == 3

    def test_limit_applies_before_shard(self) -> None:
        dataset = CountingDataset(10)
        assert _ids(dataset.iter_prompts("d", limit=6, shard=(1, 2))) == ["1", "3", "5"]

    def test_limit_zero_and_beyond_size(self) -> None:
        assert _ids(CountingDataset(5).iter_prompts("d", limit=0)) == []
        assert len(_ids(CountingDataset(5).iter_prompts("d", limit=50))) == 5

    @pytest.mark.parametrize("limit", [-1, 2.5, "3"])
    def test_invalid_limit(self, limit) -> None:
        with pytest.raises(ConfigError, match="invalid limit"):
            CountingDataset(3).iter_prompts("d", limit=limit)

    def test_report_counts_latest_call(self) -> None:
        dataset = CountingDataset(10)
        list(dataset.iter_prompts("d"))
        list(dataset.iter_prompts("d", limit=2))
        assert dataset.report.n_prompts == 2

"""`BIPIADataset`: poisoned samples built from the BIPIA benchmark files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pm_core.errors import ConfigError
from pm_core.plugins import get_catalogue, reset_catalogue
from pm_plugins_datasets.bipia import BIPIADataset
from pm_plugins_datasets.bipia_format import insert_attack, middle_split

HEADINGS = {"email": "Email", "table": "Table", "code": "Stack Overflow answer"}
PAIRED_ATTACKS = {"email": "text", "table": "text", "code": "code"}


def _raw_contexts(root: Path, task: str, split: str) -> list[dict]:
    lines = (root / "benchmark" / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _raw_attacks(root: Path, kind: str, split: str) -> dict[str, list[str]]:
    return json.loads((root / "benchmark" / f"{kind}_attack_{split}.json").read_text(encoding="utf-8"))


def _context_text(row: dict) -> str:
    context = row["context"]
    return context if isinstance(context, str) else "\n".join(context)


def _poisoned_context(task: str, user_turn: str) -> str:
    """Cut the context out of the user turn: after its heading line, before the question."""
    _, _, rest = user_turn.partition(f"{HEADINGS[task]}:\n")
    context, _, _ = rest.rpartition("\n\nQuestion: ")
    return context


@pytest.fixture
def bipia_root(data_root) -> Path:
    return data_root / "BIPIA"


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("task", ["email", "code", "table"])
def test_samples_and_positions(bipia_root, task, split) -> None:
    """Each position gets contexts x attack strings samples, each with the attack at its labelled position."""
    originals = [_context_text(row) for row in _raw_contexts(bipia_root, task, split)]
    n_attacks = sum(len(texts) for texts in _raw_attacks(bipia_root, PAIRED_ATTACKS[task], split).values())
    dataset = BIPIADataset(bipia_root, tasks=task, split=split)

    positions: Counter = Counter()
    prompt_ids = set()
    # One streaming pass, because the table train split alone has 202,500 samples.
    for prompt in dataset.iter_prompts("bipia"):
        where = prompt.prompt_id
        positions[prompt.labels["position"]] += 1
        prompt_ids.add(prompt.prompt_id)
        assert prompt.labels["malicious"] is True, where
        assert prompt.labels["split"] == split, where

        attack = prompt.labels["attack_text"]
        poisoned = _poisoned_context(task, prompt.messages[1].content)
        if prompt.labels["position"] == "start":
            assert poisoned.startswith(attack), where
        elif prompt.labels["position"] == "end":
            assert poisoned.endswith(attack), where
        else:
            before, found, after = poisoned.partition(attack)
            assert found, where
            assert before.strip(), where
            assert after.strip(), where
        # Taking the attack out leaves the original context, give or take the separators next to it.
        original = originals[prompt.labels["context_index"]]
        assert len(poisoned) - len(attack) - len(original) in (0, 1, 2), where

    expected = len(originals) * n_attacks
    assert positions == {"start": expected, "middle": expected, "end": expected}
    assert len(prompt_ids) == 3 * expected
    assert dataset.report.rejected == {}


@pytest.mark.parametrize("task", ["email", "code", "table"])
def test_context_intact_around_attack(bipia_root, task) -> None:
    originals = [_context_text(row) for row in _raw_contexts(bipia_root, task, "test")]

    for prompt in BIPIADataset(bipia_root, tasks=task, split="test", max_contexts=10).iter_prompts("bipia"):
        poisoned = _poisoned_context(task, prompt.messages[1].content)
        without_attack = poisoned.replace(prompt.labels["attack_text"], "", 1)
        assert without_attack.split() == originals[prompt.labels["context_index"]].split(), prompt.prompt_id


def test_attack_labels_match_files(bipia_root) -> None:
    attacks = _raw_attacks(bipia_root, "text", "test")
    first_category = next(iter(attacks))

    prompt = next(iter(BIPIADataset(bipia_root, tasks="email", split="test").iter_prompts("bipia")))

    assert prompt.prompt_id == "email-test-0-text-0-0-start"
    assert prompt.labels["attack_kind"] == "text"
    assert prompt.labels["attack_category"] == first_category
    assert prompt.labels["attack_index"] == 0
    assert prompt.labels["attack_text"] == attacks[first_category][0]


def test_first_email_rendering(bipia_root) -> None:
    row = _raw_contexts(bipia_root, "email", "train")[0]
    attack = next(iter(_raw_attacks(bipia_root, "text", "train").values()))[0]

    prompt = next(iter(BIPIADataset(bipia_root, tasks="email").iter_prompts("bipia")))
    system, user = prompt.messages

    assert (system.role, user.role) == ("system", "user")
    assert "email" in system.content
    question = row["question"].removeprefix("Q: ")
    assert user.content == f"Email:\n{attack}\n{row['context']}\n\nQuestion: {question}"
    assert prompt.labels["question"] == row["question"]
    assert prompt.labels["ideal"] == row["ideal"]


def test_code_rendering_has_code_and_error(bipia_root) -> None:
    row = _raw_contexts(bipia_root, "code", "test")[0]

    prompt = next(iter(BIPIADataset(bipia_root, tasks="code", split="test").iter_prompts("bipia")))

    user = prompt.messages[1].content
    assert "\n".join(row["code"]) in user
    assert "\n".join(row["error"]) in user
    assert user.index("\n".join(row["code"])) < user.index("Stack Overflow answer:")
    assert prompt.labels["attack_kind"] == "code"
    assert prompt.labels["ideal"] == row["ideal"]
    assert "context" not in prompt.labels


def test_clean_samples(bipia_root) -> None:
    contexts = _raw_contexts(bipia_root, "email", "test")
    dataset = BIPIADataset(bipia_root, tasks="email", split="test", positions=(), include_clean=True)

    prompts = list(dataset.iter_prompts("bipia"))

    assert len(prompts) == len(contexts)
    assert all(prompt.labels["malicious"] is False for prompt in prompts)
    assert all(prompt.labels["attack_text"] is None for prompt in prompts)
    assert prompts[0].prompt_id == "email-test-0-clean"
    assert _poisoned_context("email", prompts[0].messages[1].content) == contexts[0]["context"]


def test_both_attack_kinds(bipia_root) -> None:
    n_text = sum(map(len, _raw_attacks(bipia_root, "text", "test").values()))
    n_code = sum(map(len, _raw_attacks(bipia_root, "code", "test").values()))
    dataset = BIPIADataset(bipia_root, tasks="email", split="test", positions="end", attacks="both", max_contexts=2)

    counts = Counter(prompt.labels["attack_kind"] for prompt in dataset.iter_prompts("bipia"))

    assert counts == {"text": 2 * n_text, "code": 2 * n_code}


def test_max_contexts_deterministic(bipia_root) -> None:
    def selection(seed: int) -> list[tuple]:
        dataset = BIPIADataset(bipia_root, tasks="table", positions="middle", max_contexts=5, seed=seed)
        return [(prompt.prompt_id, prompt.messages) for prompt in dataset.iter_prompts("bipia")]

    first, again, other = selection(3), selection(3), selection(4)

    assert first == again
    assert len(first) == 5 * 75
    indexes = [int(prompt_id.split("-")[2]) for prompt_id, _ in first]
    assert indexes == sorted(indexes)
    assert len(set(indexes)) == 5
    assert [prompt_id for prompt_id, _ in first] != [prompt_id for prompt_id, _ in other]


def test_unreleased_task_raises(bipia_root) -> None:
    with pytest.raises(ConfigError, match="does not redistribute the NewsQA contexts"):
        BIPIADataset(bipia_root, tasks=("email", "qa"))


def test_invalid_options(bipia_root) -> None:
    with pytest.raises(ConfigError, match="unknown BIPIA positions"):
        BIPIADataset(bipia_root, positions=("beginning",))
    with pytest.raises(ConfigError, match="unknown BIPIA split"):
        BIPIADataset(bipia_root, split="dev")
    with pytest.raises(ConfigError, match="no sample to build"):
        BIPIADataset(bipia_root, positions=())


def test_through_catalogue(bipia_root) -> None:
    reset_catalogue()
    catalogue = get_catalogue()
    dataset = catalogue.create(
        "datasets", "BIPIADataset", bipia_root=str(bipia_root), tasks=["email"], split="test", positions=["end"]
    )
    n_attacks = sum(map(len, _raw_attacks(bipia_root, "text", "test").values()))

    prompts = list(dataset.iter_prompts("bipia_email"))

    assert len(prompts) == len(_raw_contexts(bipia_root, "email", "test")) * n_attacks
    reset_catalogue()


def test_middle_split_rule() -> None:
    assert middle_split("aaa\nbbb\nccc\nddd") == 8
    assert insert_attack("aaa\nbbb\nccc\nddd", "ATTACK", "middle", 8) == "aaa\nbbb\nATTACK\nccc\nddd"
    text = "One two. Three four five. Six seven."
    split_index = middle_split(text)
    assert text[:split_index] == "One two. Three four five. "
    assert insert_attack(text, "ATTACK", "middle", split_index) == "One two. Three four five. ATTACK Six seven."
    assert insert_attack("abcdef", "ATTACK", "middle", middle_split("abcdef")) == "abc ATTACK def"
    assert middle_split("x") is None
    assert middle_split("  x  ") is None


def test_unusable_rows_rejected(tmp_path) -> None:
    email = tmp_path / "benchmark" / "email"
    email.mkdir(parents=True)
    rows = [
        {"context": "Hello there. Bye now.", "question": "Q: who?"},
        {"context": "  "},
        {"context": 3},
        {"context": "x"},
    ]
    lines = [json.dumps(row) for row in rows] + ["{not json"]
    (email / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "benchmark" / "text_attack_train.json").write_text(json.dumps({"Task": ["Say hi."]}), encoding="utf-8")
    dataset = BIPIADataset(tmp_path, tasks="email")

    prompts = [item for item in dataset.iter_prompts("bipia") if hasattr(item, "messages")]

    assert len(prompts) == 3 + 2
    assert dataset.report.rejected == {
        "empty_context": 3,
        "invalid_context": 3,
        "context_too_short": 1,
        "invalid_json": 1,
    }


def test_shards_partition_samples(bipia_root) -> None:
    def ids(shard: tuple[int, int] | None) -> list[str]:
        dataset = BIPIADataset(bipia_root, tasks="code", split="test", include_clean=True, max_contexts=4)
        return [prompt.prompt_id for prompt in dataset.iter_prompts("bipia", shard=shard)]

    shards = [ids((index, 3)) for index in range(3)]

    assert sorted(sum(shards, [])) == sorted(ids(None))
    assert all(shards)


def test_obtained_abstract_contexts(tmp_path, caplog) -> None:
    abstract = tmp_path / "benchmark" / "abstract"
    abstract.mkdir(parents=True)
    (abstract / "train.jsonl").write_text(
        json.dumps({"context": "A story.", "ideal": "Short."}) + "\n", encoding="utf-8"
    )
    (abstract / "md5.txt").write_text("0" * 32 + "  train.jsonl\n", encoding="utf-8")
    (tmp_path / "benchmark" / "text_attack_train.json").write_text(json.dumps({"Task": ["Say hi."]}), encoding="utf-8")

    with caplog.at_level("WARNING", logger="pm_plugins_datasets.bipia"):
        dataset = BIPIADataset(tmp_path, tasks="abstract", positions="end")
    (prompt,) = dataset.iter_prompts("bipia")

    assert "differ from the published ones" in caplog.text
    assert prompt.messages[1].content.endswith(
        "A story.\nSay hi.\n\nQuestion: Summarize the news article in one or two sentences."
    )
    assert prompt.labels["ideal"] == "Short."

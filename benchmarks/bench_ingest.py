"""Measure pm ingestion against a bare batched forward and generate, and the load time of 100k rows.

Run through `nox -s bench`. Everything is measured in this one process, on the
same prompts and the same model, so the ratios compare like with like:

- bare forward: the prompts in dataset order, cut into batches of the same size
  pm uses at most, left-padded, `model(**batch)` with logits for every position,
  no hooks, nothing stored;
- pm ingestion: `FullIngestionPipeline` on the same prompts, with capture,
  registry and storage, the model already loaded;
- the same pair with greedy generation of `GEN_TOKENS` new tokens;
- `ClassificationDataset.load` of 100,000 synthetic stored rows of width 576.

The figures are printed and written to `.bench/ingest.json`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("PM_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))
BATCH_SIZE = 16
GEN_TOKENS = 32
N_ADVBENCH = 100
N_BASTION = 100


def bench_config(output_dir: str, max_new_tokens: int) -> dict:
    return {
        "model": {"name": "smollm2-135m-instruct", "dtype": "float32"},
        "run": {
            "topk_logits": 10,
            "max_new_tokens": max_new_tokens,
            "capture_acts_raw": {"layers": [9, 19, -1], "positions": [-5, -1]},
            "max_batch_size": BATCH_SIZE,
            "token_budget": 1_000_000,
        },
        "output_dir": output_dir,
        "datasets": [
            {
                "name": "advbench",
                "class": "AdvBenchDataset",
                "params": {"path": str(DATA_ROOT / "AdvBench" / "data" / "advbench")},
                "num_prompts": N_ADVBENCH,
            },
            {"name": "bastion", "class": "BastionCorpusDataset", "num_prompts": N_BASTION},
        ],
    }


def run_pm(backend, max_new_tokens: int) -> tuple[float, int]:
    """Return (seconds, prompts) of pm ingestion of both datasets into a fresh directory."""
    from pm_core.config.load import parse_config
    from pm_core.ingestion.pipeline import FullIngestionPipeline

    with tempfile.TemporaryDirectory() as output_dir:
        config = parse_config(bench_config(output_dir, max_new_tokens))
        started = time.perf_counter()
        completed = 0
        for dataset in config.datasets:
            summary = FullIngestionPipeline(config, dataset.name, backend=backend, show_progress=False).run()
            completed += summary.completed
        return time.perf_counter() - started, completed


def rendered_prompts(backend) -> list[list[int]]:
    """Return the token ids pm runs, in dataset order, through pm's own datasets and renderer."""
    from pm_core.config.load import parse_config
    from pm_core.plugins import get_catalogue

    config = parse_config(bench_config("unused", 0))
    prompts = []
    for dataset in config.datasets:
        source = get_catalogue().create("datasets", dataset.class_name, **dataset.params)
        for spec in source.iter_prompts(dataset.name, limit=dataset.num_prompts):
            if hasattr(spec, "messages"):
                prompts.append(list(backend.render(spec).input_ids))
    return prompts


def left_padded(ids_batch: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    longest = max(len(ids) for ids in ids_batch)
    input_ids = torch.full((len(ids_batch), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(ids_batch), longest), dtype=torch.long)
    for row, ids in enumerate(ids_batch):
        input_ids[row, longest - len(ids) :] = torch.tensor(ids)
        attention_mask[row, longest - len(ids) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def run_bare(model, prompts: list[list[int]], pad_id: int, max_new_tokens: int) -> float:
    """Return the seconds of bare batched forwards (or generates) over `prompts` in dataset order."""
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(prompts), BATCH_SIZE):
            batch = left_padded(prompts[start : start + BATCH_SIZE], pad_id)
            if max_new_tokens:
                model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
            else:
                model(**batch)
    return time.perf_counter() - started


def measure_load() -> float:
    from pm_core import ClassificationDataset
    from pm_core.storage.bench import write_synthetic

    with tempfile.TemporaryDirectory() as output_dir:
        write_synthetic(output_dir, n_rows=100_000, d=576, offsets=(-1,))
        started = time.perf_counter()
        data = ClassificationDataset.from_path(output_dir).load(layer=0, space="raw", position="last")
        seconds = time.perf_counter() - started
        assert data.X.shape == (100_000, 576), data.X.shape
        return seconds


def main() -> None:
    if not DATA_ROOT.is_dir():
        sys.exit(f"real datasets not found at {DATA_ROOT}; set PM_DATA_ROOT")

    from pm_core.config.load import parse_config
    from pm_core.plugins import get_catalogue

    torch.manual_seed(0)
    config = parse_config(bench_config("unused", 0))
    backend = get_catalogue().create("backends", "huggingface", config.model)
    model = backend.model
    pad_id = backend.tokenizer.pad_token_id
    prompts = rendered_prompts(backend)
    print(f"{len(prompts)} prompts, {sum(map(len, prompts))} tokens, batch size {BATCH_SIZE}")

    run_bare(model, prompts[:BATCH_SIZE], pad_id, 0)  # warm-up
    bare_seconds = run_bare(model, prompts, pad_id, 0)
    pm_seconds, pm_count = run_pm(backend, 0)
    bare_gen_seconds = run_bare(model, prompts, pad_id, GEN_TOKENS)
    pm_gen_seconds, pm_gen_count = run_pm(backend, GEN_TOKENS)
    load_seconds = measure_load()

    results = {
        "n_prompts": len(prompts),
        "pm_prompts_per_s": pm_count / pm_seconds,
        "bare_prompts_per_s": len(prompts) / bare_seconds,
        "pm_gen_prompts_per_s": pm_gen_count / pm_gen_seconds,
        "bare_gen_prompts_per_s": len(prompts) / bare_gen_seconds,
        "load_100k_s": load_seconds,
        "torch_threads": torch.get_num_threads(),
    }
    results["ratio"] = results["pm_prompts_per_s"] / results["bare_prompts_per_s"]
    results["gen_ratio"] = results["pm_gen_prompts_per_s"] / results["bare_gen_prompts_per_s"]

    for key, value in results.items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    out = REPO_ROOT / ".bench"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out / 'ingest.json'}")


if __name__ == "__main__":
    main()

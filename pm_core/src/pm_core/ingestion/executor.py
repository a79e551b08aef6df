"""Plan a config's jobs and run them: in this process on a CPU, one worker process per GPU slot otherwise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import attrs

from pm_core.config.schema import RunConfig
from pm_core.errors import PmError
from pm_core.extractors import load_extractors
from pm_core.ingestion.pipeline import DatasetSummary, FullIngestionPipeline
from pm_core.plugins import get_catalogue

logger = logging.getLogger(__name__)


@attrs.frozen
class Job:
    """One dataset of a config, for one worker."""

    dataset_name: str
    class_name: str
    num_prompts: int | None


def device_slots(config: RunConfig) -> list[tuple[int, ...]]:
    """Group the config's GPUs into slots of `num_gpus` each; an empty list means CPU."""
    gpus = list(config.gpus)
    size = config.num_gpus
    return [tuple(gpus[start : start + size]) for start in range(0, len(gpus) - size + 1, size)]


def plan_jobs(config: RunConfig) -> list[Job]:
    return [
        Job(dataset.name, dataset.class_name, dataset.num_prompts or config.num_prompts) for dataset in config.datasets
    ]


def run_in_process(
    config: RunConfig, jobs: list[Job], show_progress: bool = True
) -> tuple[list[DatasetSummary], dict[str, str]]:
    """Run every job here, one after the other, loading the model at most once.

    A dataset that fails as a whole (an unreadable file, a label outside the
    vocabulary) is reported and the other datasets still run. Returns the
    summaries and, per failed dataset, its error message.
    """
    # Loaded (and checked against the model) once, before the first job and the model.
    extractors = load_extractors(config, get_catalogue())
    loaded = []

    def load_once():
        if not loaded:
            loaded.append(get_catalogue().create("backends", config.model.backend, config.model))
        return loaded[0]

    summaries = []
    failures: dict[str, str] = {}
    for job in jobs:
        pipeline = FullIngestionPipeline(
            config, job.dataset_name, backend=load_once, show_progress=show_progress, extractors=extractors
        )
        try:
            summaries.append(pipeline.run())
        except PmError as error:
            logger.error("dataset %s failed: %s", job.dataset_name, error)
            failures[job.dataset_name] = str(error)
    return summaries, failures


def run_workers(config: RunConfig, jobs: list[Job], slots: list[tuple[int, ...]]) -> int:
    """Run each job in a `pm ingest` worker process pinned to one GPU slot; return failed jobs."""
    if config.source_path is None:
        msg = "worker processes need the config's file path"
        raise ValueError(msg)
    log_dir = Path(config.output_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    queue = deque(jobs)
    free = deque(slots)
    running: list[tuple[subprocess.Popen, tuple[int, ...], Job]] = []
    failures = 0
    while queue or running:
        while queue and free:
            job, slot = queue.popleft(), free.popleft()
            running.append((_start_worker(config, job, slot, log_dir), slot, job))
        time.sleep(1.0)
        for entry in list(running):
            process, slot, job = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            free.append(slot)
            if process.returncode != 0:
                failures += 1
                logger.error(
                    "worker for %s on GPUs %s exited with %d; see %s",
                    job.dataset_name,
                    slot,
                    process.returncode,
                    log_dir / f"{job.dataset_name}.log",
                )
            else:
                logger.info("worker for %s finished", job.dataset_name)
    return failures


def _start_worker(config: RunConfig, job: Job, slot: tuple[int, ...], log_dir: Path) -> subprocess.Popen:
    environment = dict(os.environ, CUDA_VISIBLE_DEVICES=",".join(map(str, slot)))
    command = [
        sys.executable,
        "-m",
        "pm_core.cli",
        "ingest",
        "--config",
        config.source_path,
        "--dataset-name",
        job.dataset_name,
        "--no-progress",
        # Inside the worker the slot's GPUs are renumbered from 0.
        "--device",
        "auto" if len(slot) > 1 else "cuda:0",
    ]
    if job.num_prompts:
        # The job's own limit: a dataset's `num_prompts` may exceed the config's top-level one.
        command += ["--num-prompts", str(job.num_prompts)]
    logger.info("starting worker for %s on GPUs %s", job.dataset_name, slot)
    log_file = open(log_dir / f"{job.dataset_name}.log", "ab")  # noqa: SIM115 - closed when the worker exits
    return subprocess.Popen(command, env=environment, stdout=log_file, stderr=subprocess.STDOUT)

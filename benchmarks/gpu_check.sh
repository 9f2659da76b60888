#!/usr/bin/env bash
# GPU check for a machine with JAX but no TensorFlow or Keras (see benchmarks/gpu_check.py).
# Run from the repository root. Wheels of keras and its small pure-Python needs, downloaded
# beforehand into .whl/ (see docs/performance.md), are installed into a private folder.
# The whole check is capped at 7 minutes 50 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/mpikeras-site .whl/*.whl
    export PYTHONPATH="/tmp/mpikeras-site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
exec timeout 470 python3 benchmarks/gpu_check.py --out "${OUT:-.}/gpu-check.json" "$@"

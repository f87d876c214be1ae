#!/bin/bash
# One call on a lent GPU machine: benchmarks/world.py with longer ensemble training, on the
# reference runs made on the CPU machine (carried with their run records, so the cost model is
# still scored on CPU-machine timings).
# Carry: .whl benchmarks/data/world/full benchmarks/data/cost-runs.jsonl
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L
timeout "${SECONDS_LIMIT:-380}" python3 benchmarks/world.py --steps "${STEPS:-8000}" --out "$OUT/world-gpu.json" 2>&1 | tee "$OUT/log.txt"

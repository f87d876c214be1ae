#!/bin/bash
# One call on a lent GPU machine (the device tool): install the carried wheels (.whl/, see
# benchmarks/README.md), check the stack, then run benchmarks/emulator.py on ala2-implicit twice:
# the CPU preset as is (numbers beside the CPU ones), then with longer training.
# Carry: .whl benchmarks/data/ala2-implicit-300K-a.h5 benchmarks/data/ala2-implicit-300K-b.h5
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L
python3 - <<'PY' || exit 1
import jax, openmm, mdtraj, tables, e3nn_jax, flax, optax
print("jax", jax.__version__, jax.devices(), "openmm", openmm.__version__, "mdtraj", mdtraj.__version__,
      "e3nn-jax", e3nn_jax.__version__, "flax", flax.__version__)
print("openmm platforms", [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])
PY
run() { timeout "$1" python3 benchmarks/emulator.py --systems ala2-implicit --best-replicas 1000 \
          --openmm-platforms Reference,CUDA --out "$OUT/emulator-gpu.json" "${@:2}" 2>&1 | tee -a "$OUT/log.txt"; }
run 250 --tag gpu
run "${LONG_SECONDS:-260}" --tag gpu-long --steps "${LONG_STEPS:-20000}"
ls -la "$OUT"

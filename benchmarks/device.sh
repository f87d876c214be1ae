#!/bin/bash
# One call on a lent GPU machine (the device tool): install the carried wheels, check the stack,
# then run benchmarks/emulator.py there with the arguments in ARGS, OpenMM measured on the same
# machine on Reference (one process per core) and CUDA. Results: $OUT/emulator-gpu.json, $OUT/log.txt.
# Carry: .whl-gpu (e3nn_jax, mdtraj, tables, blosc2, ndindex, numexpr, openmm, openmm_cuda_13 wheels;
# see benchmarks/README.md), the reference runs a and b of each system in ARGS, and any model
# directory ARGS names with --model that is not already on the machine.
#   ARGS="--systems ala2-implicit --model ala2-implicit=DIR --corrector-steps 1000 --best-replicas 100,1000,4000 --speed-only"
# Budget (H100, 2026-11-27, --speed-only, ala2-implicit `ala2-large`): OpenMM Reference x16 + CUDA ~30 s;
# each throughput is a compile, a warm-up run and the timed run: learned only 1000 / 4000 replicas ~30 s /
# ~60 s; with 1000 corrector steps ~45 s / ~3 min (the 4000-replica 10-ps case did not fit in a 400-s call).
# The fidelity run does not depend on the device: prefer --speed-only here.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl-gpu/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L
python3 - <<'PY' || exit 1
import jax, openmm, mdtraj, tables, e3nn_jax, flax, optax
print("jax", jax.__version__, jax.devices(), "openmm", openmm.__version__, "mdtraj", mdtraj.__version__,
      "e3nn-jax", e3nn_jax.__version__, "flax", flax.__version__)
print("openmm platforms", [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])
PY
# shellcheck disable=SC2086
timeout "${LIMIT_SECONDS:-480}" python3 benchmarks/emulator.py $ARGS --openmm-platforms Reference,CUDA \
  --out "$OUT/emulator-gpu.json" 2>&1 | tee -a "$OUT/log.txt"
ls -la "$OUT"

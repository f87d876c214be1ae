#!/bin/bash
# One call on a lent GPU machine (the device tool): install the carried wheels, then train the
# PRESET (default ala2-large) for each of SYSTEMS (default: ala2 ala2-implicit, on TRAIN_NS of
# reference data each, default 70: run a and 25-ns runs c, d, ...; lj: runs a at both pressures), each with
# as many steps as fit TRAIN_SECONDS there (a timed pilot step).
# The model directories come back in $OUT/models.tgz; unpack them under benchmarks/data/models and
# evaluate on any machine with
#   python3 benchmarks/emulator.py --systems S --preset PRESET --train-ns 70 --steps N ...
# Carry (no OpenMM needed): .whl-train (e3nn_jax, mdtraj, tables, blosc2, ndindex, numexpr wheels)
# and benchmarks/data/ala2{,-implicit}-300K-{a,c,d}.h5 (TRAIN_NS=95: also -e; lj: benchmarks/data/lj-100K-{1,1000}bar-a.h5).
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl-train/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L
SECONDS_EACH=${TRAIN_SECONDS:-200}
PRESET=${PRESET:-ala2-large}
for s in ${SYSTEMS:-ala2 ala2-implicit}; do
  timeout $((SECONDS_EACH + 150)) python3 benchmarks/emulator.py --systems "$s" --preset "$PRESET" --train-ns "${TRAIN_NS:-70}" \
    --train-seconds "$SECONDS_EACH" --train-only --out "$OUT/train-gpu.json" 2>&1 | tee -a "$OUT/log.txt"
done
(cd benchmarks/data/models && tar czf "$OUT/models.tgz" ./*-"$PRESET"-*)
ls -la "$OUT"

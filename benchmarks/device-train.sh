#!/bin/bash
# One call on a lent GPU machine (the device tool): install the carried wheels, then train each
# PRESET (default ala2-large; ala2-gpu for a model that emulates as fast as `ala2`; several,
# space-separated, train side by side on the one GPU) for each
# of SYSTEMS (default: ala2 ala2-implicit), on TRAIN_NS of reference data per condition (ala2: run a
# and 25-ns runs c, d, ..., default 70; lj: 2-ns runs a, c, d, ... at both pressures, so set it, e.g. 6), each with
# as many steps as fit TRAIN_SECONDS there (a timed pilot step).
# The model directories come back in $OUT/models.tgz; unpack them under benchmarks/data/models and
# evaluate on any machine with
#   python3 benchmarks/emulator.py --systems S --model S=DIR ...
# Carry (no OpenMM needed): .whl-train (e3nn_jax, mdtraj, tables, blosc2, ndindex, numexpr wheels, and
# pydantic, pydantic_core, annotated_types, typing_inspection, which blosc2 4.14 declares; all for
# cp312, `pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 ...`)
# and the training runs, e.g. benchmarks/data/ala2{,-implicit}-300K-{a,c,d}.h5, or a folder DATA_FROM
# of them (copied into benchmarks/data/ first; the carry takes at most 8 paths).
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl-train/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L
[ -n "$DATA_FROM" ] && mkdir -p benchmarks/data && cp "$DATA_FROM"/*.h5 benchmarks/data/
SECONDS_EACH=${TRAIN_SECONDS:-200}
PRESET=${PRESET:-ala2-large}
for p in $PRESET; do
  for s in ${SYSTEMS:-ala2 ala2-implicit}; do
    timeout $((SECONDS_EACH + 150)) python3 benchmarks/emulator.py --systems "$s" --preset "$p" --train-ns "${TRAIN_NS:-70}" \
      --train-seconds "$SECONDS_EACH" --train-only --out "$OUT/train-gpu-$p.json" 2>&1 | tee -a "$OUT/log-$p.txt"
  done &
done
wait
(cd benchmarks/data/models && tar czf "$OUT/models.tgz" $(for p in $PRESET; do ls -d ./*-"$p"-*; done))
ls -la "$OUT"

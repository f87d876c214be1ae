import os
import shutil
import tempfile

import jax
import numpy as np
import pytest

from sciwm.model.emulator import configure_cpu
from sciwm.systems import get_system

# one CPU device for the whole session, whichever test runs first (`sciwm` commands called in-process
# would otherwise give the process one device per core), and XLA's flags as `sciwm` sets them
jax.config.update("jax_num_cpu_devices", 1)
configure_cpu()


CACHE_DIR = pytest.StashKey[str]()


def pytest_configure(config):
    """Many tests compile the same programs (an emulator or a trainer per test, `sciwm` commands in
    subprocesses): JAX's persistent compilation cache, in a folder of this session only, compiles
    each once (tests/world/test_bundle.py: 125 -> 82 s on the 2-core CPU). Subprocesses inherit it."""
    folder = tempfile.mkdtemp(prefix="sciwm-test-jax-cache-")
    config.stash[CACHE_DIR] = folder
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.3"
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)


def pytest_unconfigure(config):
    shutil.rmtree(config.stash.get(CACHE_DIR, ""), ignore_errors=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def lj_system():
    return get_system("lj", n_atoms=256, seed=0)

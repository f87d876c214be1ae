import jax
import numpy as np
import pytest

from sciwm.systems import get_system

# one CPU device for the whole session, whichever test runs first (`sciwm` commands called in-process
# would otherwise give the process one device per core: sciwm.model.emulator.one_device_per_core)
jax.config.update("jax_num_cpu_devices", 1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def lj_system():
    return get_system("lj", n_atoms=256, seed=0)

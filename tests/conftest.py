import jax
import numpy as np
import pytest

from sciwm.model.emulator import configure_cpu
from sciwm.systems import get_system

# one CPU device for the whole session, whichever test runs first (`sciwm` commands called in-process
# would otherwise give the process one device per core), and XLA's flags as `sciwm` sets them
jax.config.update("jax_num_cpu_devices", 1)
configure_cpu()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def lj_system():
    return get_system("lj", n_atoms=256, seed=0)

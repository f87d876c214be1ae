import numpy as np
import pytest

from sciwm.systems import get_system


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def lj_system():
    return get_system("lj", n_atoms=256, seed=0)

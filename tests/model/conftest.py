import jax
import pytest


@pytest.fixture(autouse=True)
def strict_dtypes():
    """Model code must not rely on implicit dtype promotion (optax does, so not for training)."""
    with jax.numpy_dtype_promotion("strict"):
        yield

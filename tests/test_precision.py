"""labkit.precision: TF32 is off inside the block and restored after it, even after an error (on the current backend).

Each backend has its own switch: TensorFlow's tensor_float_32_execution, JAX's default matmul precision
(None by default, which lets XLA use TF32 on GPUs; "float32" inside), torch's two allow_tf32 flags (matmuls
and cuDNN convolutions). They are Python-level settings, so they can be checked on a machine without a GPU.
"""

import sys
import types

import keras
import pytest

from labkit import precision

BACKEND = keras.backend.backend()


def allow_tf32():
    """Turn the backend's TF32 switch(es) on, as a GPU runtime may have them."""
    if BACKEND == "tensorflow":
        import tensorflow

        tensorflow.config.experimental.enable_tensor_float_32_execution(True)
    elif BACKEND == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", None)
    else:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def tf32_allowed():
    """Whether the backend may use TF32 now (for torch: both switches must be off to say False)."""
    if BACKEND == "tensorflow":
        import tensorflow

        return tensorflow.config.experimental.tensor_float_32_execution_enabled()
    if BACKEND == "jax":
        import jax

        return jax.config.jax_default_matmul_precision not in ("float32", "highest")
    import torch

    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


@pytest.fixture
def tf32_on():
    """TF32 allowed before the test; the backend's own default put back after it."""
    if BACKEND == "tensorflow":
        import tensorflow

        previous = tensorflow.config.experimental.tensor_float_32_execution_enabled()
        allow_tf32()
        yield
        tensorflow.config.experimental.enable_tensor_float_32_execution(previous)
    elif BACKEND == "jax":
        import jax

        previous = jax.config.jax_default_matmul_precision
        allow_tf32()
        yield
        jax.config.update("jax_default_matmul_precision", previous)
    else:
        import torch

        previous = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        allow_tf32()
        yield
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def test_tf32_is_disabled_inside_and_restored_after(tf32_on):
    assert tf32_allowed()
    with precision.full_precision_matmuls():
        assert not tf32_allowed(), BACKEND
    assert tf32_allowed(), BACKEND


def test_setting_is_restored_when_the_block_raises(tf32_on):
    with pytest.raises(RuntimeError):
        with precision.full_precision_matmuls():
            raise RuntimeError("boom")
    assert tf32_allowed(), BACKEND


def test_torch_backend_switches_off_tf32_for_matmuls_and_convolutions(monkeypatch):
    """Torch keeps TF32 switches for matmuls and for cuDNN convolutions; both are off inside, restored after."""
    fake_torch = types.SimpleNamespace(backends=types.SimpleNamespace(
        cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=True)),
        cudnn=types.SimpleNamespace(allow_tf32=True),
    ))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with precision.full_precision_matmuls():
        assert fake_torch.backends.cuda.matmul.allow_tf32 is False
        assert fake_torch.backends.cudnn.allow_tf32 is False
    assert fake_torch.backends.cuda.matmul.allow_tf32 is True
    assert fake_torch.backends.cudnn.allow_tf32 is True


def test_float64_arithmetic_keeps_float64_and_is_scoped():
    import numpy as np

    with precision.float64_arithmetic():
        assert keras.backend.standardize_dtype(keras.ops.convert_to_tensor(np.ones(2)).dtype) == "float64"
    if BACKEND == "jax":  # JAX's x64 mode is off again outside the block
        assert keras.backend.standardize_dtype(keras.ops.convert_to_tensor(np.ones(2)).dtype) == "float32"

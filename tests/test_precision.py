"""labkit.precision: TF32 is off inside the block and restored after it, even after an error."""

import pytest
import tensorflow

from labkit import precision


def test_tf32_is_disabled_inside_and_restored_after():
    tensorflow.config.experimental.enable_tensor_float_32_execution(True)
    with precision.full_precision_matmuls():
        assert not tensorflow.config.experimental.tensor_float_32_execution_enabled()
    assert tensorflow.config.experimental.tensor_float_32_execution_enabled()


def test_setting_is_restored_when_the_block_raises():
    tensorflow.config.experimental.enable_tensor_float_32_execution(True)
    with pytest.raises(RuntimeError):
        with precision.full_precision_matmuls():
            raise RuntimeError("boom")
    assert tensorflow.config.experimental.tensor_float_32_execution_enabled()


def test_torch_backend_switches_off_tf32_for_matmuls_and_convolutions(monkeypatch):
    """Torch keeps TF32 switches for matmuls and for cuDNN convolutions; both are off inside, restored after."""
    import sys
    import types

    import keras

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

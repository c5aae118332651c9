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

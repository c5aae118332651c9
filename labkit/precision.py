"""Numerical precision settings that probes need to compare results across machines and backends."""

import contextlib


@contextlib.contextmanager
def full_precision_matmuls():
    """Inside the block, float32 matmuls and convolutions run in full float32 (no TF32 on GPUs); restored after.

    Probes that train or run layers compare with a reference at float32 tolerances; TF32 keeps only a
    10-bit mantissa in matmuls and convolutions, which would make correct code fail on GPUs.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow

        previous = tensorflow.config.experimental.tensor_float_32_execution_enabled()
        tensorflow.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tensorflow.config.experimental.enable_tensor_float_32_execution(previous)
    elif backend == "jax":
        import jax

        with jax.default_matmul_precision("float32"):
            yield
    elif backend == "torch":
        import torch

        # torch has two switches: one for matmuls and one for cuDNN convolutions (on by default).
        previous = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous
    else:
        yield


@contextlib.contextmanager
def float64_arithmetic():
    """Inside the block, float64 arrays stay float64 on every backend; restored after.

    TensorFlow and torch compute float64 inputs in float64 anyway. JAX silently converts float64 to
    float32 unless its x64 mode is on, so on JAX the block turns it on for its duration only
    (``jax.enable_x64``; ``jax.experimental.enable_x64`` on JAX before 0.5). Arrays made inside keep
    their float64 dtype after the block; convert them to NumPy before leaving it.
    """
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    state = getattr(jax, "enable_x64", None)
    if state is not None:
        scope = state(True)
    else:  # older JAX
        from jax.experimental import enable_x64

        scope = enable_x64()
    with scope:
        yield

"""Where a lab runs: fast or full mode, and which devices, backend and versions it sees.

Fast mode (small subsets, few epochs) is for CI and grading; full mode is for students.
Both run the same code: a lab reads its sizes through ``by_mode``.
"""

import os
import platform

MODE_VARIABLE = "LABKIT_MODE"
MODES = ("fast", "full")


def lab_mode():
    """The current mode, from the LABKIT_MODE environment variable ("full" when unset)."""
    mode = os.environ.get(MODE_VARIABLE, "full").strip().lower() or "full"
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {MODES}, got {mode!r}.")
    return mode


def by_mode(fast, full):
    """Pick the fast-mode or full-mode value of a setting."""
    return fast if lab_mode() == "fast" else full


def describe_environment():
    """Versions, backend, devices and mode, as a dict (what report_environment prints)."""
    import keras

    backend = keras.backend.backend()
    devices = _list_devices(backend)
    description = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": backend,
        "devices": devices,
        "gpu": any(device.startswith("GPU") or "cuda" in device.lower() for device in devices),
        "mode": lab_mode(),
    }
    if backend == "tensorflow":
        import tensorflow

        description["tensorflow"] = tensorflow.__version__
    return description


def _list_devices(backend):
    """Device names as the backend sees them (e.g. 'CPU:0', 'GPU:0')."""
    if backend == "tensorflow":
        import tensorflow

        names, counts = [], {}
        for device in tensorflow.config.list_physical_devices():
            # Number devices per type (CPU:0, GPU:0, GPU:1), not across all devices.
            index = counts.get(device.device_type, 0)
            counts[device.device_type] = index + 1
            names.append(f"{device.device_type}:{index}")
        return names
    if backend == "jax":
        import jax

        return [f"{device.platform.upper()}:{device.id}" for device in jax.devices()]
    if backend == "torch":
        import torch

        gpus = [f"GPU:{index}" for index in range(torch.cuda.device_count())]
        return ["CPU:0"] + gpus
    return ["CPU:0"]


def report_environment():
    """Print devices, backend, versions and mode at the top of a lab; returns the same as a dict."""
    description = describe_environment()
    versions = f"Python {description['python']}, Keras {description['keras']}"
    if "tensorflow" in description:
        versions += f", TensorFlow {description['tensorflow']}"
    print(versions)
    print(f"Backend: {description['backend']}; devices: {', '.join(description['devices'])}")
    if not description["gpu"]:
        print("No GPU found: training runs on the CPU (fine in fast mode; full mode is slower).")
    print(f"Mode: {description['mode']} (set {MODE_VARIABLE}=fast for a quick run, full for the real one)")
    return description

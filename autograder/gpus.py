"""Which NVIDIA GPUs grading may use, and which one each sandbox job gets.

Asked for with ``grade --gpus all`` (or ``--gpus 0,2``), which sets ``AUTOGRADER_GPUS`` so that
Dask workers started from the same process see it too (a remote worker sets it itself). Each
job then holds one GPU for its whole run, at most ``AUTOGRADER_JOBS_PER_GPU`` jobs per GPU at a
time (default 1), and its sandbox shows it exactly that GPU: the GPU's device node and the
driver's shared nodes (``nvidiactl``, ``nvidia-uvm``), the driver's library folders read-only,
and ``CUDA_VISIBLE_DEVICES`` naming it. CUDA reserves far more virtual memory than it uses, so
a GPU job has no address-space limit: the watchdog's resident-memory limit still applies.
Without ``--gpus`` nothing of the GPUs is visible, whatever the machine has.
"""

import contextlib
import os
import re
import threading

GPU_VARIABLE = "AUTOGRADER_GPUS"
JOBS_PER_GPU_VARIABLE = "AUTOGRADER_JOBS_PER_GPU"
DEVICE_NAME = re.compile(r"nvidia([0-9]+)")
SHARED_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
# Where drivers live outside /usr (which the sandbox shows already, /usr/local/cuda and /usr/local/nvidia
# included): NixOS's driver folder and NVIDIA's own installs under /opt.
DRIVER_FOLDERS = ("/run/opengl-driver", "/opt/nvidia")
DEVICE_FOLDER = "/dev"  # where the device nodes are looked for (tests point it at a simulated folder)


def device_indices(device_folder=None):
    """The indices of the NVIDIA GPUs whose device nodes exist (/dev/nvidia0, /dev/nvidia1, ...)."""
    try:
        names = os.listdir(device_folder or DEVICE_FOLDER)
    except OSError:
        return []
    return sorted(int(match.group(1)) for match in map(DEVICE_NAME.fullmatch, names) if match)


def parse_request(text, available):
    """The GPU indices asked for: 'all', or a comma-separated list of available indices; [] for none."""
    if text is None or not str(text).strip():
        return []
    text = str(text).strip()
    if text == "all":
        if not available:
            raise ValueError("--gpus all: this machine has no NVIDIA GPU device nodes (/dev/nvidia0, ...)")
        return list(available)
    try:
        asked = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--gpus expects 'all' or GPU indices such as 0,2, got {text!r}") from None
    missing = sorted(set(asked) - set(available))
    if missing:
        raise ValueError(f"--gpus {text}: no GPU {missing} on this machine (it has {list(available) or 'none'})")
    return sorted(set(asked))


def jobs_per_gpu(text):
    """How many jobs may share one GPU at a time (a positive integer)."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ValueError(f"{JOBS_PER_GPU_VARIABLE} must be a positive integer, got {text!r}")
    return value


class Allocator:
    """Hands each job the least busy of the GPUs, waiting while every one has its share of jobs."""

    def __init__(self, devices, per_gpu=1):
        if not devices:
            raise ValueError("an allocator needs at least one GPU")
        self.per_gpu = per_gpu
        self.busy = {device: 0 for device in devices}
        self.condition = threading.Condition()

    @contextlib.contextmanager
    def acquire(self):
        """The index of the GPU this job may use, held until the block ends."""
        with self.condition:
            self.condition.wait_for(lambda: min(self.busy.values()) < self.per_gpu)
            device = min(self.busy, key=lambda index: (self.busy[index], index))
            self.busy[device] += 1
        try:
            yield device
        finally:
            with self.condition:
                self.busy[device] -= 1
                self.condition.notify_all()


_allocators = {}
_allocators_lock = threading.Lock()


def allocator_from_environment(device_folder=None):
    """The allocator for what AUTOGRADER_GPUS asks, or None when grading should not use GPUs."""
    request = os.environ.get(GPU_VARIABLE, "")
    per_gpu = os.environ.get(JOBS_PER_GPU_VARIABLE, "1")
    if not request.strip():
        return None
    device_folder = device_folder or DEVICE_FOLDER
    key = (request, per_gpu, device_folder)
    with _allocators_lock:
        if key not in _allocators:
            devices = parse_request(request, device_indices(device_folder))
            _allocators[key] = Allocator(devices, jobs_per_gpu(per_gpu))
        return _allocators[key]


def bwrap_arguments(device, device_folder=None):
    """bubblewrap options that show one GPU: its node and the shared nodes, the driver folders read-only."""
    arguments = []
    for name in (f"nvidia{device}",) + SHARED_NODES:
        host_path = os.path.join(device_folder or DEVICE_FOLDER, name)
        if os.path.exists(host_path):
            arguments += ["--dev-bind", host_path, f"/dev/{name}"]
    for folder in DRIVER_FOLDERS:
        if os.path.isdir(folder):
            arguments += ["--ro-bind", folder, folder]
    if os.path.isdir("/sys"):
        arguments += ["--ro-bind", "/sys", "/sys"]  # CUDA reads the GPU's PCI and NUMA topology there
    return arguments


def environment(device, per_gpu=1):
    """Variables that make CUDA, TensorFlow and JAX use only this GPU and share its memory."""
    variables = {
        "CUDA_VISIBLE_DEVICES": str(device),
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",  # TensorFlow would otherwise take the whole GPU's memory
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # and JAX 75 % of it
    }
    if per_gpu > 1:
        variables["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / per_gpu:.3f}"
    return variables

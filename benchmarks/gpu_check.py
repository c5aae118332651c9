"""The GPU check (issue 11): the bundle it travels with, its training measurements and its results file.

`benchmarks/gpu_check.sh` drives it. On a machine with PyTorch and JAX built for CUDA but without
TensorFlow, Keras or internet, it runs the `gpu`-marked tests, grades the lab 05 and lab 07 solutions
under the JAX and torch backends with `--gpus all`, trains lab 07's LeNet-5 in full mode on MNIST and
one epoch of its full-mode ResNet on CIFAR-10, and writes everything to one Markdown file.

Subcommands (``python -m benchmarks.gpu_check --help``):

* ``prepare``: here, with internet: the wheels the GPU machine lacks (``.whl/``), Debian's bubblewrap
  package and the offline data the check reads (``.gpu-data/``), all ignored by git and carried.
* ``header``, ``record``: start the results file, and add one step's outcome (status, seconds, the
  figures its log printed on ``RESULT`` lines, the log's tail).
* ``environment``, ``submission``, ``sandbox-devices``, ``lenet``, ``resnet``: the steps themselves.

The training functions take their sizes as arguments, so tests/test_gpu_check.py runs them on the CPU
with tiny sizes; the GPU check passes the lab's full-mode sizes.
"""

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
WHEEL_FOLDER = ROOT / ".whl"
DATA_FOLDER = ROOT / ".gpu-data"
SOURCE_DATA = ROOT.parent / "shared" / "data"
CARRY_LIMIT_BYTES = 64 * 1024 * 1024  # what may travel to the GPU machine, working tree included
WHEEL_TARGET_BYTES = 40 * 1024 * 1024

# What the grading pipeline, the gpu tests and the training steps import that the GPU machine lacks
# (found by recording the distributions a `grade` run and the tests import, less the machine's own list in
# the device notes). Versions are the ones installed here, from requirements.txt and what pip chose for
# them, so that the GPU machine runs what the course is tested with.
CARRIED_PACKAGES = (
    "keras", "namex", "optree",  # Keras (absl-py, h5py, ml-dtypes, numpy, packaging, rich are there)
    "nbgrader", "alembic", "mako", "sqlalchemy", "rapidfuzz",  # the gradebook
    "nbformat", "fastjsonschema", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py",
    "jupyter-core", "traitlets", "platformdirs",
    "nbclient", "jupyter-client", "pyzmq", "tornado",
    "nbconvert", "bleach", "tinycss2", "webencodings", "defusedxml", "jupyterlab-pygments", "mistune",
    "pandocfilters", "beautifulsoup4", "soupsieve",
    "jupyter-server", "notebook",  # imported by nbgrader's apps, which `grade` uses for its gradebook
    "arrow", "fqdn", "isoduration", "jsonpointer", "rfc3339-validator", "rfc3986-validator",
    "rfc3987-syntax", "lark", "uri-template", "webcolors",  # jsonschema's format checkers, which nbformat loads
)
# In requirements.txt but never carried: not needed by the check (TensorFlow is what the machine must
# not have), or already on the GPU machine.
NOT_CARRIED = {
    "tensorflow": "the check runs the JAX and torch backends",
    "jupyterlab": "formgrader only", "ipykernel": "notebooks are not run through kernels",
    "nbval": "notebook tests are not part of the check", "playwright": "browser test only",
    "dask": "scale-out only", "distributed": "scale-out only",
    "numpy": "on the GPU machine", "matplotlib": "on the GPU machine", "pytest": "on the GPU machine",
    "psutil": "on the GPU machine", "tqdm": "on the GPU machine",
    "jax": "on the GPU machine, built for CUDA", "jaxlib": "on the GPU machine, built for CUDA",
    "torch": "on the GPU machine, built for CUDA",
}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64")
DEVICE_PYTHON = "3.12"

# Lab 07's full-mode settings (its lenet_experiment and cifar_experiment cells).
LENET_FULL = {"train_size": None, "test_size": None, "epochs": 15, "batch_size": 128}
RESNET_FULL = {"train_size": None, "test_size": None, "epochs": 1, "schedule_epochs": 30, "warmup_epochs": 5,
               "widths": (64, 128, 256), "blocks_per_stage": 2, "batch_size": 128, "augment": True}
# Tiny sizes for the CPU rehearsal and the tests: the same code on a few hundred images.
LENET_TINY = {"train_size": 256, "test_size": 128, "epochs": 1, "batch_size": 64}
RESNET_TINY = {"train_size": 128, "test_size": 64, "epochs": 1, "schedule_epochs": 3, "warmup_epochs": 1,
               "widths": (4, 8, 8), "blocks_per_stage": 1, "batch_size": 64, "augment": True}
CIFAR_TEST_IMAGES = 2000  # of the offline copy's 10,000 test images, so that the bundle fits 64 MiB
RESULT_PREFIX = "RESULT "
SCORE_LINE = re.compile(r"^(?P<student>\S+)\s+(?P<score>\d+(?:\.\d+)?)/(?P<max>\d+(?:\.\d+)?)\s", re.MULTILINE)
NOT_GRADED_LINE = re.compile(r"^(?P<student>\S+)\s+not graded\s", re.MULTILINE)
PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<counts>(?:\d+ \w+(?:, )?)+) in [\d.]+s", re.MULTILINE)


# ---------------------------------------------------------------------------------------------- the bundle

def normalize(name):
    """A distribution name as pip compares them: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def bundle_pins(packages=CARRIED_PACKAGES, version_of=importlib.metadata.version):
    """name==version for every carried package, with the version installed here; refuses what must not travel."""
    pins, seen = [], set()
    for name in packages:
        key = normalize(name)
        if key in seen:
            raise ValueError(f"{name} is listed twice")
        if key in NOT_CARRIED:
            raise ValueError(f"{name} must not be carried: {NOT_CARRIED[key]}")
        seen.add(key)
        try:
            version = version_of(name)
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(f"{name} is not installed here (make install first)") from None
        pins.append(f"{key}=={version}")
    return pins


def wheel_name(filename):
    """(normalized distribution, version) of a wheel file name."""
    parts = pathlib.Path(filename).name[:-len(".whl")].split("-")
    return normalize(parts[0]), parts[1]


def wheel_fits_device(filename, python=DEVICE_PYTHON):
    """True for a wheel the GPU machine's CPython (3.12, x86-64 Linux) can install."""
    tags = pathlib.Path(filename).name[:-len(".whl")].split("-")[-3:]
    python_tags, abi_tag, platform_tags = tags[0].split("."), tags[1], tags[2].split(".")
    cpython = "cp" + python.replace(".", "")
    if platform_tags == ["any"]:
        return any(tag in ("py3", cpython) or tag.startswith("py3") for tag in python_tags)
    if not any(tag.startswith("manylinux") and tag.endswith("_x86_64") for tag in platform_tags):
        return False
    if abi_tag == "abi3":
        return any(tag.startswith("cp3") and int(tag[3:]) <= int(cpython[3:]) for tag in python_tags)
    return cpython in python_tags and abi_tag == cpython


def check_wheels(folder, pins):
    """Problems with a wheel folder: a pin without its wheel, a wheel without a pin, two versions, wrong platform."""
    problems, found = [], {}
    for path in sorted(pathlib.Path(folder).glob("*.whl")):
        name, version = wheel_name(path.name)
        if name in found:
            problems.append(f"two wheels of {name}: {found[name]} and {version}")
        found[name] = version
        if not wheel_fits_device(path.name):
            problems.append(f"{path.name} does not install on CPython {DEVICE_PYTHON} x86-64 Linux")
    wanted = dict(pin.split("==") for pin in pins)
    for name, version in wanted.items():
        if found.get(name) != version:
            problems.append(f"missing wheel {name}=={version}" + (f" (found {found[name]})" if name in found else ""))
    problems += [f"wheel {name}=={version} is not in the bundle's list" for name, version in found.items()
                 if name not in wanted]
    return problems


def download_wheels(folder, pins):
    """pip download, without dependencies, the cp312 manylinux wheels of every pin into folder."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = dict(pin.split("==") for pin in pins)
    for path in folder.glob("*.whl"):  # a wheel of another version (an older bundle) would stop the install
        name, version = wheel_name(path.name)
        if wanted.get(name) != version:
            path.unlink()
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", DEVICE_PYTHON, "--implementation", "cp", "--dest", str(folder)]
    for platform_tag in PLATFORMS:
        command += ["--platform", platform_tag]
    subprocess.run(command + list(pins), check=True)


def copy_data(source, destination, cifar_test_images=CIFAR_TEST_IMAGES):
    """The offline MNIST copy as it is, and CIFAR-10 with all its training images and the first test images."""
    import numpy as np

    source, destination = pathlib.Path(source), pathlib.Path(destination)
    if source.resolve() == destination.resolve():
        raise ValueError(f"the data would be copied onto itself ({source}): name the offline data with --source-data")
    mnist = source / "mnist" / "mnist-partial.npz"
    cifar = source / "cifar10" / "cifar10-offline.npz"
    for path in (mnist, cifar):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the GPU check needs the offline data (LABKIT_DATA_DIR layout)")
    (destination / "mnist").mkdir(parents=True, exist_ok=True)
    (destination / "cifar10").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mnist, destination / "mnist" / "mnist-partial.npz")
    with np.load(cifar) as arrays:
        kept = {key: arrays[key][:cifar_test_images] if key.startswith(("x_test", "y_test")) else arrays[key]
                for key in arrays.files}
    np.savez_compressed(destination / "cifar10" / "cifar10-offline.npz", **kept)
    return {key: int(value.shape[0]) for key, value in kept.items() if key[:1] in "xy"}


def download_bubblewrap(destination):
    """Debian's bubblewrap package (apt-get download), unpacked with dpkg -x on the GPU machine."""
    destination = pathlib.Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for old in destination.glob("bubblewrap_*.deb"):
        old.unlink()
    subprocess.run(["apt-get", "download", "-q", "bubblewrap"], cwd=destination, check=True,
                   stdout=subprocess.DEVNULL)
    return next(destination.glob("bubblewrap_*.deb"))


def folder_bytes(path):
    return sum(item.stat().st_size for item in pathlib.Path(path).rglob("*") if item.is_file())


def travelling_bytes(root=ROOT):
    """Bytes of the working tree that travels without carry: tracked and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((root / name.decode()).stat().st_size for name in listed
               if name and (root / name.decode()).is_file())


CARRY = (".whl", ".gpu-data")


def run_command(timeout_s=570):
    """The device tool's call for the check: the command, the carry list and the time limit."""
    return {"command": "bash benchmarks/gpu_check.sh", "carry": list(CARRY), "timeout_s": timeout_s}


def bundle_problems(wheels=WHEEL_FOLDER, data=DATA_FOLDER, pins=None):
    """What is wrong with a prepared bundle (empty when the check can travel with it)."""
    problems = check_wheels(wheels, bundle_pins() if pins is None else pins)
    data = pathlib.Path(data)
    for relative in ("mnist/mnist-partial.npz", "cifar10/cifar10-offline.npz"):
        if not (data / relative).is_file():
            problems.append(f"missing {data / relative}")
    if not list((data / "deb").glob("bubblewrap_*.deb")):
        problems.append(f"missing {data / 'deb'}/bubblewrap_*.deb")
    return problems


def prepare(arguments):
    pins = bundle_pins()
    if not arguments.skip_download:
        download_wheels(arguments.wheels, pins)
        download_bubblewrap(arguments.data / "deb")
    problems = check_wheels(arguments.wheels, pins)
    if problems:
        raise SystemExit("the wheel folder is not what the check needs:\n  " + "\n  ".join(problems))
    counts = copy_data(arguments.source_data, arguments.data, arguments.cifar_test_images)
    wheel_bytes, data_bytes = folder_bytes(arguments.wheels), folder_bytes(arguments.data)
    tree_bytes = travelling_bytes()
    total = wheel_bytes + data_bytes + tree_bytes
    over = f" (over the {WHEEL_TARGET_BYTES // 2**20} MiB aim)" if wheel_bytes > WHEEL_TARGET_BYTES else ""
    print(f"{len(pins)} wheels in {arguments.wheels}: {wheel_bytes / 2**20:.1f} MiB{over}")
    print(f"data and bubblewrap in {arguments.data}: {data_bytes / 2**20:.1f} MiB ({counts})")
    print(f"working tree that travels anyway: {tree_bytes / 2**20:.1f} MiB; all together {total / 2**20:.1f} MiB "
          f"of the {CARRY_LIMIT_BYTES // 2**20} MiB limit")
    if total > CARRY_LIMIT_BYTES:
        raise SystemExit("too large to travel: lower --cifar-test-images or carry fewer wheels")
    call = run_command()
    print("device tool call:")
    print(f"  run(command={call['command']!r}, carry={json.dumps(call['carry'])}, timeout_s={call['timeout_s']})")
    print("  the results come back as $OUT/gpu_check.md (and the step logs as $OUT/gpu_check_logs.tar.gz)")


# ---------------------------------------------------------------------------------------------- results file

def header_lines(kind, when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = "GPU check" if kind == "gpu" else "GPU check: CPU rehearsal (tiny sizes, no GPU: not GPU figures)"
    return [f"# {title}", "", f"Run {when} by `benchmarks/gpu_check.sh`"
            f"{' --cpu-rehearsal' if kind != 'gpu' else ''} on {os.uname().nodename} ({os.uname().machine}).", "",
            "| step | status | seconds | figures |", "| --- | --- | ---: | --- |"]


def parse_results(text):
    """The figures a step printed: RESULT {json} lines, and the autograder's 'student score/max' summary rows."""
    figures = {}
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            with contextlib.suppress(ValueError):
                figures.update(json.loads(line[len(RESULT_PREFIX):]))
    for match in SCORE_LINE.finditer(text):
        if match["student"] != "student":
            figures["score"] = f"{match['score']}/{match['max']}"
    if NOT_GRADED_LINE.search(text):
        figures["score"] = "not graded"
    for match in PYTEST_SUMMARY.finditer(text):
        figures["tests"] = match["counts"]
    return figures


def status_of(rc, figures):
    score = str(figures.get("score", ""))
    if score == "not graded":
        return "NOT GRADED"
    if "/" in score and float(score.split("/")[0]) < float(score.split("/")[1]):
        return "LOST POINTS"
    if rc == 0:
        return "ok"
    if rc in (124, 137):
        return "TIMED OUT"
    if rc == 999:
        return "skipped (time budget)"
    return f"FAILED (exit {rc})"


def format_figures(figures):
    shown = []
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.4f}" if key.endswith("accuracy") or key.endswith("loss") else f"{value:.1f}"
        shown.append(f"{key} {value}")
    return "; ".join(shown) or "—"


def record(results, step, rc, seconds, log_text, tail_lines=25):
    """Append one step to the results file: a table row, and the log's tail in a details block."""
    figures = parse_results(log_text)
    status = status_of(rc, figures)
    results = pathlib.Path(results)
    text = results.read_text() if results.exists() else ""
    row = f"| {step} | {status} | {seconds:.1f} | {format_figures(figures)} |"
    table_end = text.find("\n\n## ")
    if table_end < 0:
        text = text.rstrip("\n") + "\n" + row + "\n"
    else:
        text = text[:table_end] + "\n" + row + text[table_end:]
    tail = "\n".join(log_text.rstrip().splitlines()[-tail_lines:]).replace("```", "'''")
    text += f"\n## {step}\n\n{status}, {seconds:.1f} s.\n\n```\n{tail}\n```\n"
    results.write_text(text)
    return figures


# ---------------------------------------------------------------------------------------------- the steps

def environment_figures():
    """What the machine has: Keras's backend and devices, torch's and JAX's versions and GPUs."""
    figures = {"python": sys.version.split()[0]}
    for name in ("keras", "torch", "jax", "jaxlib", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            figures[name] = importlib.metadata.version(name)
    try:
        import torch

        figures["torch_cuda"] = torch.version.cuda
        figures["torch_gpus"] = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    except Exception as error:  # noqa: BLE001 - reported, not raised
        figures["torch_error"] = repr(error)
    try:
        import jax

        figures["jax_devices"] = [str(device) for device in jax.devices()]
    except Exception as error:  # noqa: BLE001
        figures["jax_error"] = repr(error)
    from labkit import environment

    description = environment.describe_environment()
    figures["keras_backend"], figures["keras_devices"] = description["backend"], description["devices"]
    return figures


def write_submission(lab_id, folder, student="solution"):
    """The lab's solution as a student submission (release filled with the answers), as tests/test_labs.py makes it."""
    from autograder import samples

    notebook = samples.make_submission(ROOT / "labs" / lab_id / f"{lab_id}.ipynb",
                                       ROOT / "solutions" / lab_id / f"{lab_id}.ipynb")
    return samples.write_notebook(notebook, pathlib.Path(folder) / student / f"{lab_id}.ipynb")


def sandbox_devices():
    """What Keras sees inside a grading sandbox holding one GPU (AUTOGRADER_GPUS=all): the check's proof of use."""
    os.environ.setdefault("AUTOGRADER_GPUS", "all")
    from autograder import sandbox

    # Inline, not labkit.environment: labkit's functions refuse calls from the sandbox's student code.
    look = ("import json, os, keras\n"
            "backend = keras.backend.backend()\n"
            "if backend == 'jax':\n"
            "    import jax\n"
            "    devices = [str(device) for device in jax.devices()]\n"
            "elif backend == 'torch':\n"
            "    import torch\n"
            "    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or ['cpu']\n"
            "else:\n"
            "    devices = ['?']\n"
            "print('SANDBOX', json.dumps({'backend': backend, 'devices': devices,\n"
            "                            'cuda_visible_devices': os.environ.get('CUDA_VISIBLE_DEVICES')}))\n")
    job = {"cells": [{"label": "look", "source": look, "origin": "answer"}], "probes": [], "forbidden": [],
           "environment": {}}
    isolation = os.environ.get("GPU_CHECK_ISOLATION", "bwrap")
    try:
        result = sandbox.run_job(job, sandbox.Limits(), isolation)
    finally:
        sandbox.SERVERS.close_all()
    seen = [line for line in result.output.splitlines() if line.startswith("SANDBOX ")]
    figures = json.loads(seen[-1][len("SANDBOX "):]) if seen else {}
    figures = {f"sandbox_{key}": value for key, value in figures.items()}
    figures["isolation"] = result.isolation
    if result.infrastructure_error or not seen:
        figures["sandbox_error"] = (result.infrastructure_error or str(result.cells) + result.output)[-300:]
    return figures


def lab_namespace(lab_id="07_convolutions"):
    """A lab solution's setup and answer cells run in a fresh namespace (as tests/test_gpu.py does)."""
    from autograder import lab as lab_module

    lab = lab_module.load_lab(ROOT / "solutions" / lab_id / f"{lab_id}.ipynb")
    namespace = {"__name__": "__gpu_check__"}
    with contextlib.redirect_stdout(sys.stderr):  # the imports cell reports the environment
        for cell in lab.cells:
            if cell.role in ("setup", "answer"):
                exec(compile(cell.source, f"<{cell.grade_id}>", "exec"), namespace)
    return namespace


def _device_name():
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    if backend == "jax":
        import jax

        return str(jax.devices()[0])
    return "cpu"


def train_lenet(namespace, train_size, test_size, epochs, batch_size=128, run_eagerly=False):
    """Lab 07's lenet_experiment: LeNet-5 on MNIST, Adam with cosine decay; test accuracy and seconds.

    run_eagerly skips compiling the training step (the tests' tiny runs: tracing would cost more than training).
    """
    import keras
    import numpy as np

    import labkit.data

    (train, train_labels), (test, test_labels) = labkit.data.load_mnist(scale=True, train_size=train_size,
                                                                       test_size=test_size)
    train, test = train[..., np.newaxis], test[..., np.newaxis]
    keras.utils.set_random_seed(0)
    model = namespace["build_lenet5"]()
    steps = epochs * int(np.ceil(len(train) / batch_size))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=run_eagerly)
    started = time.perf_counter()
    history = model.fit(train, train_labels, validation_data=(test, test_labels), epochs=epochs,
                        batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - started
    evaluation = model.evaluate(test, test_labels, batch_size=1000, verbose=0, return_dict=True)
    return {"model": "LeNet-5", "backend": keras.backend.backend(), "device": _device_name(),
            "train_images": len(train), "test_images": len(test), "epochs": epochs,
            "seconds": seconds, "seconds_per_epoch": seconds / epochs,
            "test_accuracy": float(evaluation["accuracy"]), "test_loss": float(evaluation["loss"]),
            "final_training_accuracy": float(history.history["accuracy"][-1])}


def build_resnet(namespace, widths, blocks_per_stage, channel_mean, channel_variance, augment, seed=0):
    """Lab 07's build_resnet (cifar_experiment cell), with the solution's ResidualBlock."""
    import keras

    residual_block = namespace["ResidualBlock"]
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(32, 32, 3))
    features = inputs
    if augment:
        features = keras.layers.RandomFlip("horizontal", seed=seed)(features)
        features = keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", interpolation="nearest",
                                                  seed=seed)(features)
    features = keras.layers.Normalization(mean=channel_mean, variance=channel_variance)(features)
    features = keras.layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(features)
    features = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(features))
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            features = residual_block(width, strides=2 if stage > 0 and block == 0 else 1)(features)
    features = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(10, activation="softmax")(features)
    return keras.Model(inputs, outputs, name="resnet_with_augmentation" if augment else "resnet")


def train_resnet(namespace, train_size, test_size, epochs, schedule_epochs, warmup_epochs, widths,
                 blocks_per_stage, batch_size=128, augment=True, run_eagerly=False):
    """The first `epochs` epochs of lab 07's full-mode ResNet run (its schedule spans schedule_epochs)."""
    import keras
    import numpy as np

    import labkit.data

    (train, train_labels), (test, test_labels) = labkit.data.load_cifar10(scale=True, train_size=train_size,
                                                                         test_size=test_size)
    model = build_resnet(namespace, widths, blocks_per_stage, train.mean(axis=(0, 1, 2)), train.var(axis=(0, 1, 2)),
                         augment)
    steps_per_epoch = int(np.ceil(len(train) / batch_size))
    warmup_steps = warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.01, warmup_target=0.1, warmup_steps=warmup_steps,
        decay_steps=schedule_epochs * steps_per_epoch - warmup_steps)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=5e-3),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"],
                  run_eagerly=run_eagerly)
    train_targets = keras.utils.to_categorical(train_labels, 10)
    test_targets = keras.utils.to_categorical(test_labels, 10)
    started = time.perf_counter()
    history = model.fit(train, train_targets, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluation = model.evaluate(test, test_targets, batch_size=500, verbose=0, return_dict=True)
    return {"model": f"ResNet {'-'.join(map(str, widths))} x{blocks_per_stage}", "backend": keras.backend.backend(),
            "device": _device_name(), "parameters": int(model.count_params()), "train_images": len(train),
            "test_images": len(test), "epochs": epochs, "seconds": seconds,
            "evaluate_seconds": time.perf_counter() - started, "test_accuracy": float(evaluation["accuracy"]),
            "final_training_accuracy": float(history.history["accuracy"][-1])}


def print_result(figures):
    print(RESULT_PREFIX + json.dumps(figures, default=str), flush=True)


# ---------------------------------------------------------------------------------------------- command line

def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare", help="wheels, bubblewrap and data for the GPU machine")
    prepare_parser.add_argument("--wheels", type=pathlib.Path, default=WHEEL_FOLDER)
    prepare_parser.add_argument("--data", type=pathlib.Path, default=DATA_FOLDER)
    prepare_parser.add_argument("--source-data", type=pathlib.Path, default=SOURCE_DATA,
                                help="the offline data (default: ../shared/data beside the checkout)")
    prepare_parser.add_argument("--cifar-test-images", type=int, default=CIFAR_TEST_IMAGES)
    prepare_parser.add_argument("--skip-download", action="store_true", help="check and copy only")
    commands.add_parser("pins", help="print the carried packages as name==version")
    commands.add_parser("check-bundle", help="check .whl/ and .gpu-data/ against the carried packages' versions")
    header_parser = commands.add_parser("header", help="start a results file")
    header_parser.add_argument("results", type=pathlib.Path)
    header_parser.add_argument("--kind", choices=("gpu", "cpu-rehearsal"), default="gpu")
    record_parser = commands.add_parser("record", help="add a step's outcome to the results file")
    record_parser.add_argument("results", type=pathlib.Path)
    record_parser.add_argument("--step", required=True)
    record_parser.add_argument("--rc", type=int, required=True)
    record_parser.add_argument("--seconds", type=float, required=True)
    record_parser.add_argument("--log", type=pathlib.Path, required=True)
    commands.add_parser("environment", help="versions and devices")
    submission_parser = commands.add_parser("submission", help="write a lab's solution submission")
    submission_parser.add_argument("lab_id")
    submission_parser.add_argument("folder", type=pathlib.Path)
    commands.add_parser("sandbox-devices", help="what Keras sees inside a grading sandbox with one GPU")
    for name in ("lenet", "resnet"):
        train_parser = commands.add_parser(name, help=f"lab 07's {name} training, timed")
        train_parser.add_argument("--size", choices=("full", "tiny"), default="full")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    if arguments.command == "prepare":
        prepare(arguments)
    elif arguments.command == "pins":
        print("\n".join(bundle_pins()))
    elif arguments.command == "check-bundle":
        problems = bundle_problems()
        print("\n".join(problems) or f"bundle complete: {len(bundle_pins())} wheels, data and bubblewrap")
        return 1 if problems else 0
    elif arguments.command == "header":
        arguments.results.parent.mkdir(parents=True, exist_ok=True)
        arguments.results.write_text("\n".join(header_lines(arguments.kind)) + "\n")
    elif arguments.command == "record":
        log_text = arguments.log.read_text(errors="replace") if arguments.log.exists() else ""
        record(arguments.results, arguments.step, arguments.rc, arguments.seconds, log_text)
    elif arguments.command == "environment":
        print_result(environment_figures())
    elif arguments.command == "submission":
        print(write_submission(arguments.lab_id, arguments.folder))
    elif arguments.command == "sandbox-devices":
        print_result(sandbox_devices())
    elif arguments.command == "lenet":
        print_result(train_lenet(lab_namespace(), **(LENET_FULL if arguments.size == "full" else LENET_TINY)))
    elif arguments.command == "resnet":
        print_result(train_resnet(lab_namespace(), **(RESNET_FULL if arguments.size == "full" else RESNET_TINY)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load the course data sets (MNIST, Fashion-MNIST, CIFAR-10) in Keras's shapes and dtypes.

Each loader returns ``((x_train, y_train), (x_test, y_test))`` exactly as
``keras.datasets.<name>.load_data()`` does: MNIST and Fashion-MNIST give x of shape
(N, 28, 28) and y of shape (N,); CIFAR-10 gives x of shape (N, 32, 32, 3) and y of
shape (N, 1); everything is uint8. ``scale=True`` returns x as float32 in [0, 1].
``train_size`` / ``test_size`` keep the first n examples.

Where the data comes from, in this order:

1. A data directory: the ``data_dir`` argument, else the environment variable
   ``LABKIT_DATA_DIR``. A directory that does not exist is an error. Inside it, the
   first layout present is used:

   - MNIST: ``mnist.npz``, ``mnist/mnist.npz`` (Keras's own file) or
     ``mnist/mnist-partial.npz`` (keys x_train, y_train, x_test, y_test).
   - Fashion-MNIST: the four IDX gzip files ``train-images-idx3-ubyte.gz``,
     ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
     ``t10k-labels-idx1-ubyte.gz``, directly in the directory or in ``fashion-mnist/``.
   - CIFAR-10: ``cifar10/cifar10-offline.npz`` or ``cifar10.npz`` (keys x_train,
     y_train, x_test, y_test; 1-D labels are reshaped to (N, 1)), or Keras's
     extracted ``cifar-10-batches-py/`` folder (data_batch_1..5 and test_batch).

2. Keras's own loaders, which use the Keras cache (``$KERAS_HOME/datasets`` or
   ``~/.keras/datasets``) and download the files when they are missing.

3. If both fail, ``DatasetUnavailableError`` says what was looked for and how to fix
   it. There is never a synthetic fallback.

Loaded arrays are cached in memory per (data set, source); callers always get copies.
"""

import gzip
import os
import pathlib
import pickle

import keras
import numpy as np

DATA_DIR_ENV_VAR = "LABKIT_DATA_DIR"

CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    "cifar10": (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ),
}

_DISPLAY_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
_IMAGE_SHAPES = {"mnist": (28, 28), "fashion_mnist": (28, 28), "cifar10": (32, 32, 3)}
_FASHION_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)
_CIFAR_BATCH_FILES = tuple(f"data_batch_{index}" for index in range(1, 6)) + ("test_batch",)
_KERAS_CACHE_ENTRIES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist/",
    "cifar10": "cifar-10-batches-py-target/cifar-10-batches-py/",
}
_ACCEPTED_LAYOUTS = {
    "mnist": "mnist.npz, mnist/mnist.npz or mnist/mnist-partial.npz",
    "fashion_mnist": "the four IDX files " + ", ".join(_FASHION_FILES) + " (directly or in fashion-mnist/)",
    "cifar10": "cifar10/cifar10-offline.npz, cifar10.npz or cifar-10-batches-py/",
}
_IDX_UBYTE_TYPE_CODE = 0x08
_LOADED_ARRAYS_CACHE = {}


class DatasetUnavailableError(RuntimeError):
    """Raised when a data set is neither in the data directory nor loadable by Keras."""


def class_names(dataset_name):
    """Return the list of class names (index = label) for 'mnist', 'fashion_mnist' or 'cifar10'."""
    key = str(dataset_name).lower().replace("-", "_")
    if key not in CLASS_NAMES:
        raise ValueError(f"Unknown data set {dataset_name!r}; expected one of {sorted(CLASS_NAMES)}.")
    return list(CLASS_NAMES[key])


def clear_cache():
    """Forget all data sets cached in memory."""
    _LOADED_ARRAYS_CACHE.clear()


def load_mnist(*, scale=False, train_size=None, test_size=None, data_dir=None):
    """Load MNIST as ((x_train, y_train), (x_test, y_test)) with x (N, 28, 28) and y (N,) uint8."""
    return _load("mnist", scale, train_size, test_size, data_dir)


def load_fashion_mnist(*, scale=False, train_size=None, test_size=None, data_dir=None):
    """Load Fashion-MNIST as ((x_train, y_train), (x_test, y_test)) with x (N, 28, 28) and y (N,) uint8."""
    return _load("fashion_mnist", scale, train_size, test_size, data_dir)


def load_cifar10(*, scale=False, train_size=None, test_size=None, data_dir=None):
    """Load CIFAR-10 as ((x_train, y_train), (x_test, y_test)) with x (N, 32, 32, 3) and y (N, 1) uint8."""
    return _load("cifar10", scale, train_size, test_size, data_dir)


def _load(dataset_name, scale, train_size, test_size, data_dir):
    """Find, cache and return one data set, scaled and subset as asked."""
    data_directory = _configured_data_directory(data_dir)
    searched_places = []
    source_path, reader = None, None
    if data_directory is None:
        searched_places.append(f"no data directory (data_dir not given, {DATA_DIR_ENV_VAR} not set)")
    else:
        for relative_path, required_files, layout_reader in _data_directory_layouts(dataset_name):
            candidate = data_directory / relative_path
            if _layout_is_present(candidate, required_files):
                source_path, reader = candidate, layout_reader
                break
            contents = f" containing {', '.join(required_files)}" if required_files else ""
            searched_places.append(f"{candidate}{contents}")
    cache_key = (dataset_name, str(source_path) if source_path else "keras")
    if cache_key not in _LOADED_ARRAYS_CACHE:
        if source_path is not None:
            arrays = reader(source_path)
        else:
            arrays = _load_with_keras(dataset_name, searched_places)
        _LOADED_ARRAYS_CACHE[cache_key] = _validated(dataset_name, arrays, cache_key[1])
    (x_train, y_train), (x_test, y_test) = _LOADED_ARRAYS_CACHE[cache_key]
    train_count = _checked_size(dataset_name, "train_size", train_size, len(x_train))
    test_count = _checked_size(dataset_name, "test_size", test_size, len(x_test))
    return (
        _prepared(x_train, y_train, train_count, scale),
        _prepared(x_test, y_test, test_count, scale),
    )


def _configured_data_directory(data_dir):
    """Return the data directory from the argument or environment, or None when none is set."""
    origin = "data_dir argument"
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV_VAR) or None
        origin = f"environment variable {DATA_DIR_ENV_VAR}"
    if data_dir is None:
        return None
    directory = pathlib.Path(data_dir).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"The {origin} points to {str(data_dir)!r}, which is not an existing directory. "
            f"Fix the path, or unset it to let Keras download the data."
        )
    return directory


def _data_directory_layouts(dataset_name):
    """Return (relative path, required member files, reader) tuples in lookup order."""
    return {
        "mnist": (
            ("mnist.npz", (), _read_npz),
            ("mnist/mnist.npz", (), _read_npz),
            ("mnist/mnist-partial.npz", (), _read_npz),
        ),
        "fashion_mnist": (
            (".", _FASHION_FILES, _read_idx_folder),
            ("fashion-mnist", _FASHION_FILES, _read_idx_folder),
        ),
        "cifar10": (
            ("cifar10/cifar10-offline.npz", (), _read_npz),
            ("cifar10.npz", (), _read_npz),
            ("cifar-10-batches-py", _CIFAR_BATCH_FILES, _read_cifar_batches),
        ),
    }[dataset_name]


def _layout_is_present(path, required_files):
    """Tell whether a file (no required files) or a folder with all required files exists."""
    if not required_files:
        return path.is_file()
    return path.is_dir() and all((path / name).is_file() for name in required_files)


def _load_with_keras(dataset_name, searched_places):
    """Call Keras's loader for the data set, turning any failure into DatasetUnavailableError."""
    keras_module = getattr(keras.datasets, dataset_name)
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    keras_cache_entry = os.path.join(keras_home, "datasets", _KERAS_CACHE_ENTRIES[dataset_name])
    try:
        return keras_module.load_data()
    except Exception as error:
        display_name = _DISPLAY_NAMES[dataset_name]
        looked_for = "\n".join(f"  - {place}" for place in searched_places)
        underlying_error = " ".join(f"{type(error).__name__}: {error}".split())
        raise DatasetUnavailableError(
            f"Could not load the {display_name} data set.\nLooked for:\n{looked_for}\n"
            f"  - the Keras cache {keras_cache_entry} (keras.datasets.{dataset_name}.load_data() "
            f"failed: {underlying_error})\n"
            f"To fix it: connect to the internet so Keras can download {display_name}, or set "
            f"{DATA_DIR_ENV_VAR} (or pass data_dir=) to a folder holding {_ACCEPTED_LAYOUTS[dataset_name]}."
        ) from error


def _read_npz(path):
    """Read x_train, y_train, x_test, y_test from a .npz file."""
    with np.load(path, allow_pickle=False) as archive:
        missing_keys = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
        if missing_keys:
            raise ValueError(f"{path} lacks the arrays {sorted(missing_keys)}.")
        return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])


def _read_idx_folder(folder):
    """Read the four Fashion-MNIST IDX gzip files from a folder."""
    train_images, train_labels, test_images, test_labels = (
        _read_idx_file(folder / file_name) for file_name in _FASHION_FILES
    )
    return (train_images, train_labels), (test_images, test_labels)


def _read_idx_file(path):
    """Parse one gzip-compressed IDX file of unsigned bytes into a numpy array."""
    with gzip.open(path, "rb") as idx_file:
        content = idx_file.read()
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != _IDX_UBYTE_TYPE_CODE:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number {content[:4].hex()}).")
    dimension_count = content[3]
    header_length = 4 + 4 * dimension_count
    if dimension_count == 0 or len(content) < header_length:
        raise ValueError(f"{path} has a truncated or malformed IDX header.")
    shape = tuple(int(size) for size in np.frombuffer(content, dtype=">u4", count=dimension_count, offset=4))
    values = np.frombuffer(content, dtype=np.uint8, offset=header_length)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {values.size} values but its IDX header announces shape {shape}.")
    return values.reshape(shape).copy()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, so a crafted batch file cannot run code."""

    _ALLOWED_GLOBALS = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        """Resolve only the numpy globals needed for arrays."""
        if (module, name) not in self._ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"Refusing to load {module}.{name} from a CIFAR batch file.")
        return super().find_class(module, name)


def _read_cifar_batches(folder):
    """Read Keras's extracted cifar-10-batches-py folder into channels-last arrays."""
    batches = []
    for file_name in _CIFAR_BATCH_FILES:
        with open(folder / file_name, "rb") as batch_file:
            batch = _NumpyOnlyUnpickler(batch_file, encoding="bytes").load()
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(batch[b"labels"], dtype=np.uint8).reshape(-1, 1)
        batches.append((images, labels))
    train_batches, (x_test, y_test) = batches[:-1], batches[-1]
    x_train = np.concatenate([images for images, _ in train_batches])
    y_train = np.concatenate([labels for _, labels in train_batches])
    return (x_train, y_train), (np.ascontiguousarray(x_test), y_test)


def _validated(dataset_name, arrays, source):
    """Bring arrays to Keras's shapes and check them, naming the source on failure."""
    image_shape = _IMAGE_SHAPES[dataset_name]
    checked_splits = []
    for split_name, (images, labels) in zip(("train", "test"), arrays):
        images, labels = np.asarray(images), np.asarray(labels)
        if dataset_name == "cifar10":
            labels = labels.reshape(-1, 1)
            if images.ndim == 4 and images.shape[1:] == (3, 32, 32):
                images = images.transpose(0, 2, 3, 1)
        label_rank = 2 if dataset_name == "cifar10" else 1
        shapes_ok = images.shape[1:] == image_shape and labels.ndim == label_rank
        if not shapes_ok or images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise ValueError(
                f"{_DISPLAY_NAMES[dataset_name]} {split_name} data from {source} has images "
                f"{images.shape} {images.dtype} and labels {labels.shape} {labels.dtype}; expected images "
                f"(N, {', '.join(map(str, image_shape))}) uint8 and {'(N, 1)' if label_rank == 2 else '(N,)'} "
                f"uint8 labels."
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{_DISPLAY_NAMES[dataset_name]} {split_name} data from {source} has "
                f"{len(images)} images but {len(labels)} labels."
            )
        checked_splits.append((np.ascontiguousarray(images), labels))
    return tuple(checked_splits)


def _checked_size(dataset_name, argument_name, requested_size, available_size):
    """Return how many examples to keep, raising ValueError for an impossible request."""
    if requested_size is None:
        return available_size
    if isinstance(requested_size, bool) or not isinstance(requested_size, (int, np.integer)):
        raise ValueError(f"{argument_name} must be an integer or None, not {requested_size!r}.")
    if not 1 <= requested_size <= available_size:
        raise ValueError(
            f"{argument_name}={requested_size} is not possible for {_DISPLAY_NAMES[dataset_name]}: "
            f"choose between 1 and {available_size} (the number of examples available)."
        )
    return int(requested_size)


def _prepared(images, labels, count, scale):
    """Return fresh copies of the first count examples, with images scaled to [0, 1] if asked."""
    if scale:
        kept_images = images[:count].astype(np.float32)
        kept_images /= np.float32(255)
    else:
        kept_images = images[:count].copy()
    return kept_images, labels[:count].copy()

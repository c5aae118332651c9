"""Tests for labkit.data: offline layouts, Keras fallback, errors, caching and real offline copies."""

import gzip
import os
import pathlib
import pickle

import keras
import numpy as np
import pytest

from labkit import data

REAL_DATA_DIR = pathlib.Path(
    os.environ.get(data.DATA_DIR_ENV_VAR) or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)
needs_real_data = pytest.mark.skipif(
    not REAL_DATA_DIR.is_dir(),
    reason=f"real offline data folder {REAL_DATA_DIR} is absent (set {data.DATA_DIR_ENV_VAR} to run these)",
)


@pytest.fixture(autouse=True)
def isolated_loading(monkeypatch):
    """Clear the cache, unset LABKIT_DATA_DIR and make every Keras loader fail instead of downloading."""

    def refuse_download():
        raise OSError("network disabled in tests")

    data.clear_cache()
    monkeypatch.delenv(data.DATA_DIR_ENV_VAR, raising=False)
    for module_name in ("mnist", "fashion_mnist", "cifar10"):
        monkeypatch.setattr(getattr(keras.datasets, module_name), "load_data", refuse_download)
    yield
    data.clear_cache()


def fake_arrays(train_count, test_count, image_shape, label_shape_suffix=()):
    """Return deterministic fake uint8 ((x_train, y_train), (x_test, y_test))."""
    random_generator = np.random.default_rng(0)
    splits = []
    for count in (train_count, test_count):
        images = random_generator.integers(0, 256, size=(count, *image_shape), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8).reshape(count, *label_shape_suffix)
        splits.append((images, labels))
    return tuple(splits)


def write_npz(path, arrays):
    """Write arrays to an npz file with Keras's keys."""
    (x_train, y_train), (x_test, y_test) = arrays
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def write_idx(path, array, magic_type_code=0x08):
    """Write a uint8 array as a gzip IDX file."""
    header = bytes([0, 0, magic_type_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as idx_file:
        idx_file.write(header + array.astype(np.uint8).tobytes())


def write_fashion_folder(folder, arrays):
    """Write the four Fashion-MNIST IDX files into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = arrays
    for file_name, array in zip(data._FASHION_FILES, (x_train, y_train, x_test, y_test)):
        write_idx(folder / file_name, array)


def write_cifar_batches(folder, arrays):
    """Write a cifar-10-batches-py folder (five train batches and a test batch) from channels-last arrays."""
    folder.mkdir(parents=True)
    (x_train, y_train), (x_test, y_test) = arrays
    train_parts = zip(np.array_split(x_train, 5), np.array_split(y_train, 5))
    for file_name, (images, labels) in zip(data._CIFAR_BATCH_FILES, [*train_parts, (x_test, y_test)]):
        batch = {b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), b"labels": labels.ravel().tolist()}
        (folder / file_name).write_bytes(pickle.dumps(batch, protocol=2))


def assert_same_arrays(loaded, expected):
    """Assert two ((x, y), (x, y)) tuples are equal in values, shapes and dtypes."""
    for loaded_split, expected_split in zip(loaded, expected):
        for loaded_array, expected_array in zip(loaded_split, expected_split):
            assert loaded_array.dtype == expected_array.dtype
            np.testing.assert_array_equal(loaded_array, expected_array, strict=True)


@pytest.mark.parametrize("relative_path", ["mnist.npz", "mnist/mnist.npz", "mnist/mnist-partial.npz"])
def test_mnist_npz_layouts(tmp_path, relative_path):
    arrays = fake_arrays(12, 7, (28, 28))
    write_npz(tmp_path / relative_path, arrays)
    loaded = data.load_mnist(data_dir=tmp_path)
    assert loaded[0][0].shape == (12, 28, 28) and loaded[0][1].shape == (12,)
    assert_same_arrays(loaded, arrays)


@pytest.mark.parametrize("subfolder", [".", "fashion-mnist"])
def test_fashion_mnist_idx_layouts(tmp_path, monkeypatch, subfolder):
    arrays = fake_arrays(9, 4, (28, 28))
    write_fashion_folder(tmp_path / subfolder, arrays)
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path))
    assert_same_arrays(data.load_fashion_mnist(), arrays)


@pytest.mark.parametrize("relative_path", ["cifar10/cifar10-offline.npz", "cifar10.npz"])
def test_cifar10_npz_layouts_reshape_labels(tmp_path, relative_path):
    arrays = fake_arrays(10, 5, (32, 32, 3))
    write_npz(tmp_path / relative_path, arrays)
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(data_dir=tmp_path)
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1) and y_test.shape == (5, 1)
    assert y_train.dtype == np.uint8
    np.testing.assert_array_equal(y_train.ravel(), arrays[0][1])


def test_cifar10_batches_folder(tmp_path):
    arrays = fake_arrays(15, 6, (32, 32, 3), (1,))
    write_cifar_batches(tmp_path / "cifar-10-batches-py", arrays)
    assert_same_arrays(data.load_cifar10(data_dir=tmp_path), arrays)


def test_cifar10_batches_refuse_arbitrary_pickles(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py", fake_arrays(5, 1, (32, 32, 3), (1,)))
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": os.getcwd}))
    with pytest.raises(pickle.UnpicklingError, match="Refusing"):
        data.load_cifar10(data_dir=tmp_path)


def test_scale_and_subset_give_first_examples_as_float32(tmp_path):
    arrays = fake_arrays(12, 7, (28, 28))
    write_npz(tmp_path / "mnist.npz", arrays)
    (x_train, y_train), (x_test, y_test) = data.load_mnist(scale=True, train_size=5, test_size=3, data_dir=tmp_path)
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28) and y_test.shape == (3,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_allclose(x_train, arrays[0][0][:5] / 255, rtol=1e-6)
    np.testing.assert_array_equal(y_train, arrays[0][1][:5])


@pytest.mark.parametrize("sizes", [{"train_size": 13}, {"test_size": 0}, {"train_size": -1}, {"test_size": 2.5}])
def test_bad_sizes_raise_value_error(tmp_path, sizes):
    write_npz(tmp_path / "mnist.npz", fake_arrays(12, 7, (28, 28)))
    with pytest.raises(ValueError, match="MNIST|integer"):
        data.load_mnist(data_dir=tmp_path, **sizes)


def test_too_large_size_names_available_count(tmp_path):
    write_npz(tmp_path / "mnist.npz", fake_arrays(12, 7, (28, 28)))
    with pytest.raises(ValueError, match=r"MNIST.*\b7\b"):
        data.load_mnist(data_dir=tmp_path, test_size=8)


def test_nonexistent_data_dir_variable_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match=data.DATA_DIR_ENV_VAR):
        data.load_mnist()


def test_keras_fallback_when_data_dir_has_no_file(tmp_path, monkeypatch):
    arrays = fake_arrays(6, 3, (28, 28))
    calls = []
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: calls.append(1) or arrays)
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path))
    assert_same_arrays(data.load_mnist(), arrays)
    data.load_mnist()
    assert calls == [1]


def test_keras_fallback_converts_channels_first_cifar(monkeypatch):
    (x_train, y_train), (x_test, y_test) = fake_arrays(4, 2, (32, 32, 3))
    channels_first = ((x_train.transpose(0, 3, 1, 2), y_train), (x_test.transpose(0, 3, 1, 2), y_test))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: channels_first)
    (loaded_x_train, loaded_y_train), _ = data.load_cifar10()
    np.testing.assert_array_equal(loaded_x_train, x_train)
    assert loaded_y_train.shape == (4, 1)


def test_unavailable_dataset_error_explains_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(data.DatasetUnavailableError) as error_info:
        data.load_fashion_mnist()
    message = str(error_info.value)
    assert "Fashion-MNIST" in message and data.DATA_DIR_ENV_VAR in message
    assert str(tmp_path / "fashion-mnist") in message and "network disabled in tests" in message
    assert "internet" in message and "datasets" in message
    assert isinstance(error_info.value.__cause__, OSError)


def test_unavailable_without_data_dir_mentions_variable():
    with pytest.raises(data.DatasetUnavailableError, match=f"CIFAR-10(.|\n)*{data.DATA_DIR_ENV_VAR}"):
        data.load_cifar10()


@pytest.mark.parametrize("magic_type_code", [0x09, 0x0D])
def test_malformed_idx_magic_is_rejected(tmp_path, magic_type_code):
    write_fashion_folder(tmp_path, fake_arrays(3, 2, (28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8), magic_type_code)
    with pytest.raises(ValueError, match="magic"):
        data.load_fashion_mnist(data_dir=tmp_path)


def test_truncated_idx_is_rejected(tmp_path):
    write_fashion_folder(tmp_path, fake_arrays(3, 2, (28, 28)))
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as idx_file:
        idx_file.write(bytes([0, 0, 8, 3]) + np.asarray([2, 28, 28], dtype=">u4").tobytes() + b"\x00" * 10)
    with pytest.raises(ValueError, match="announces shape"):
        data.load_fashion_mnist(data_dir=tmp_path)


def test_npz_with_wrong_shapes_is_rejected(tmp_path):
    (x_train, y_train), test_split = fake_arrays(4, 2, (28, 28))
    write_npz(tmp_path / "mnist.npz", ((x_train, y_train.reshape(4, 1)), test_split))
    with pytest.raises(ValueError, match="mnist.npz"):
        data.load_mnist(data_dir=tmp_path)


def test_callers_cannot_mutate_cache(tmp_path):
    arrays = fake_arrays(5, 3, (28, 28))
    write_npz(tmp_path / "mnist.npz", arrays)
    (x_train, y_train), _ = data.load_mnist(data_dir=tmp_path)
    x_train[:] = 0
    y_train[:] = 99
    (subset_x, _), _ = data.load_mnist(data_dir=tmp_path, train_size=2)
    subset_x[:] = 1
    (x_train_again, y_train_again), _ = data.load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(x_train_again, arrays[0][0])
    np.testing.assert_array_equal(y_train_again, arrays[0][1])


def test_cache_avoids_rereading_file(tmp_path):
    write_npz(tmp_path / "mnist.npz", fake_arrays(5, 3, (28, 28)))
    data.load_mnist(data_dir=tmp_path)
    (tmp_path / "mnist.npz").write_bytes(b"not an npz any more")
    assert data.load_mnist(data_dir=tmp_path)[0][0].shape == (5, 28, 28)


def test_class_names():
    assert data.class_names("mnist") == [str(digit) for digit in range(10)]
    assert data.class_names("fashion_mnist")[0] == "T-shirt/top" and data.class_names("fashion-mnist")[9] == "Ankle boot"
    assert data.class_names("cifar10")[0] == "airplane" and data.class_names("CIFAR10")[9] == "truck"
    with pytest.raises(ValueError, match="cifar100"):
        data.class_names("cifar100")


@needs_real_data
def test_real_mnist():
    (x_train, y_train), (x_test, y_test) = data.load_mnist(data_dir=REAL_DATA_DIR)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,) and x_train.dtype == np.uint8
    assert len(x_train) == len(y_train) > 0 and set(np.unique(y_test)) == set(range(10))


@needs_real_data
def test_real_fashion_mnist():
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(data_dir=REAL_DATA_DIR)
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [1000] * 10


@needs_real_data
def test_real_cifar10_scaled_subset():
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(data_dir=REAL_DATA_DIR, scale=True, train_size=100)
    assert x_train.shape == (100, 32, 32, 3) and x_train.dtype == np.float32 and y_train.shape == (100, 1)
    assert x_test.shape == (10000, 32, 32, 3) and y_test.shape == (10000, 1)
    assert 0.0 <= x_test.min() and x_test.max() <= 1.0 and y_test.min() == 0 and y_test.max() == 9

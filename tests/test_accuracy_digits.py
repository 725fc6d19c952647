"""End-to-end accuracy of in-the-loop training on a calibrated chip: digits, and mismatch.

Slow (minutes on 2 cores): marked ``slow``. The chip is sampled from the shipped process
model (seed 0) and calibrated (``calibrated_chip`` in conftest; the calibration cache makes
later runs cheap). Requirements: at least 95 % test accuracy on the chip and fewer than 2
hidden spikes per hidden neuron per sample (the project's acceptance figures for
in-the-loop training); reference for the mismatch experiment: Cramer et al. 2022 Fig. 4B.
"""

import pytest
from accuracy import accuracy_target, train

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_in_the_loop(calibrated_chip, tmp_path, seed):
    """Each of seeds 0, 1 and 2 (450 test images, s.e. about 1 point): measured 95.8 %,
    96.7 % and 95.8 %; the chip's noise moves one evaluation by 0.1-0.4 points."""
    m = train("digits", tmp_path, calibrated_chip, seed=seed)
    print(
        f"digits seed {seed}: test {m['test_accuracy']:.4f}, {m['spikes_per_hidden_neuron']:.2f} spikes/neuron"
    )
    assert m["spikes_per_hidden_neuron"] < 2.0
    accuracy_target(m["test_accuracy"])


def test_mismatch_is_absorbed_in_the_loop(tmp_path):
    """Cramer et al. 2022 Fig. 4B: at sigma_d = 30 % in-the-loop accuracy stays within 2
    points of sigma_d = 0; software-trained weights deployed on the chip lose clearly more."""
    from anamorph.training.config import make_config
    from anamorph.training.experiment import mismatch_experiment

    # A smaller network than the digits default keeps the four trainings short.
    c = make_config("digits", seed=0, n_hidden=120, epochs=15)
    rows = mismatch_experiment(c, tmp_path / "mm", sigmas=(0.0, 0.3))
    loop = [r["in_the_loop_test_accuracy"] for r in rows]
    dep = [r["software_deployed_test_accuracy"] for r in rows]
    print("in the loop", loop, "software deployed", dep)
    assert loop[1] >= loop[0] - 0.02
    assert dep[0] - dep[1] > (loop[0] - loop[1]) + 0.05
    assert (tmp_path / "mm" / "mismatch.png").is_file() and (tmp_path / "mm" / "mismatch.csv").is_file()

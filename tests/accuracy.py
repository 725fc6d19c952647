"""Shared by the accuracy tests: train on a calibrated chip, the acceptance figure."""


def accuracy_target(acc: float) -> None:
    """The acceptance figure of in-the-loop training: at least 95 % test accuracy on the chip."""
    assert acc >= 0.95, f"test accuracy {100 * acc:.1f} % is below the required 95 %"


def train(dataset, tmp_path, chip, seed=0, **kw):
    from anamorph.training.config import make_config
    from anamorph.training.run import train_run

    c = make_config(dataset, out=str(tmp_path / dataset), seed=seed, **kw)
    return train_run(c, chip=chip[0], nominal=chip[1], progress=None).metrics

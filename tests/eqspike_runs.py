"""Shared by the EqSpike tests: the settings of a tiny digits run (seconds on the chip)."""


def tiny_config(out, epochs, update="software"):
    """One small EqSpike run into ``out``: 30 training and 10 test images, 8 hidden, short phases."""
    from anamorph.training.eqprop.loop import make_eqspike_config

    return make_eqspike_config(
        "digits",
        out=str(out),
        epochs=epochs,
        n_train=30,
        n_test=10,
        batch_size=10,
        n_hidden=8,
        update=update,
        t_settle_s=10e-6,
        t_window_s=20e-6,
    )

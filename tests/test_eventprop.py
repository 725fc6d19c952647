"""EventProp (Wunderlich & Pehle 2021): the exact event model and its adjoint gradients.

References: the chip's time-stepped exact propagator (models.neuron.step) at a fine step
for the forward model; central finite differences of the event model itself for the
gradients (on networks where no spike appears or vanishes within the difference step).
"""

from dataclasses import replace

import numpy as np
import pytest

from anamorph.models.neuron import NeuronParams, NeuronState, propagator, step
from anamorph.training.eventprop.adjoint import backward
from anamorph.training.eventprop.events import EventParams, kappa, simulate
from anamorph.training.eventprop.loss import LOSSES, LossParams, loss_and_grad


def _net(seed, sizes=(5, 6, 3), B=3, mean=(0.9, 0.7), sd=0.6):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 15e-6, (B, sizes[0]))
    w = [rng.normal(mean[min(l, 1)], sd, (a, b)) for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return rng, x, w


def _stepped_layer(x_times, w, p: EventParams, dt=2e-9):
    """One layer with the chip's step propagator (c_mem = tau_m numerically: I_syn is then the
    dimensionless current); inputs delivered at the first grid time at or after their time."""
    B, n_in = x_times.shape
    N = w.shape[1]
    par = NeuronParams(
        v_leak_v=0.0,
        v_th_v=1.0,
        v_reset_v=p.v_reset,
        tau_m_s=p.tau_m_s,
        tau_syn_s=p.tau_syn_s,
        t_ref_s=p.t_ref_s,
        c_mem_f=p.tau_m_s,
        w_unit_a=1.0,
    )
    prop = propagator(par, dt, B * N)
    st = NeuronState.rest(prop, (B * N,))
    n_steps = int(round(p.duration_s / dt))
    k_in = np.ceil(x_times / dt - 1e-9).astype(int)
    out = [[[] for _ in range(N)] for _ in range(B)]
    for k in range(n_steps):
        drive = np.zeros((B, N))
        for b in range(B):
            hit = k_in[b] == k
            if hit.any():
                drive[b] += w[hit].sum(axis=0)
        st = NeuronState(st.v_v, st.i_syn_a + drive.ravel(), st.refr)
        st, s = step(st, 0.0, prop)
        for idx in np.nonzero(s)[0]:
            out[idx // N][idx % N].append((k + 1) * dt)
    return out


@pytest.mark.parametrize("taus", [(6e-6, 6e-6), (8e-6, 4e-6)])
def test_forward_matches_fine_time_stepping(taus):
    p = EventParams(tau_m_s=taus[0], tau_syn_s=taus[1], t_ref_s=2e-6, duration_s=40e-6)
    _, x, w = _net(1, sizes=(5, 4), B=2, mean=(1.8,), sd=0.5)
    ev = simulate(x, w, p)[1]
    ref = _stepped_layer(x, w[0], p)
    n_multi = 0
    for b in range(2):
        for n in range(4):
            t = ev[b, n][np.isfinite(ev[b, n])]
            assert len(t) == len(ref[b][n])
            np.testing.assert_allclose(t, ref[b][n], atol=10e-9)  # a few fine steps
            n_multi += len(t) > 1
    assert n_multi > 0  # refractoriness and repeated spikes are covered


def test_kappa_limit_equal_time_constants():
    s = np.linspace(0, 30e-6, 7)
    tau = 6e-6
    exact = (s / tau) * np.exp(-s / tau)
    equal = kappa(s, EventParams(tau_m_s=tau, tau_syn_s=tau))
    np.testing.assert_allclose(equal, exact, rtol=1e-12, atol=1e-15)
    near = kappa(s, EventParams(tau_m_s=tau, tau_syn_s=tau * (1 + 1e-6)))
    np.testing.assert_allclose(near, exact, rtol=1e-5, atol=1e-12)


def _spike_loss(spikes, c):
    t = spikes[-1]
    return float(np.sum(np.where(np.isfinite(t), c[:, :, : t.shape[2]] * t, 0.0))) / 1e-6


@pytest.mark.parametrize("case", ["equal", "unequal", "no_refractory", "reset_below_leak"])
def test_adjoint_matches_central_differences(case):
    p = {
        "equal": EventParams(),
        "unequal": EventParams(tau_m_s=8e-6, tau_syn_s=4e-6),
        "no_refractory": EventParams(t_ref_s=0.0),
        "reset_below_leak": EventParams(v_reset=-0.3),
    }[case]
    p = replace(p, grazing_vdot=1e-9)  # the exact gradient (no guard)
    mean = (1.3, 1.2) if case == "unequal" else (0.9, 0.7)
    rng, x, w = _net(1, mean=mean)
    spikes = simulate(x, w, p)
    assert np.isfinite(spikes[-1]).sum() >= 3 and np.isfinite(spikes[1]).sum() >= 6
    c = rng.normal(size=spikes[-1].shape)
    g = np.where(np.isfinite(spikes[-1]), c, 0.0) / 1e-6
    grads = backward(spikes, w, g, p)
    h, checked, worst = 1e-7, 0, 0.0
    for l in range(len(w)):
        for idx in np.ndindex(w[l].shape):
            runs = []
            for sign in (1, -1):
                ws = [a.copy() for a in w]
                ws[l][idx] += sign * h
                runs.append(simulate(x, ws, p))
            same = all(
                np.array_equal(np.isfinite(a), np.isfinite(b)) and a.shape == b.shape
                for r in runs
                for a, b in zip(r, spikes)
            )
            if not same:
                continue
            fd = (_spike_loss(runs[0], c) - _spike_loss(runs[1], c)) / (2 * h)
            worst = max(worst, abs(fd - grads[l][idx]) / max(abs(fd), 1e-3))
            checked += 1
    assert checked >= 0.8 * sum(a.size for a in w)
    assert worst < 1e-4


@pytest.mark.parametrize("kind", LOSSES)
def test_loss_gradient_matches_central_differences(kind):
    rng = np.random.default_rng(4)
    sp = rng.uniform(1e-6, 20e-6, (4, 3, 2))
    sp[0, 1, 0] = np.inf
    y = np.array([0, 1, 2, 1])
    lp = LossParams(kind=kind)
    _, g, _ = loss_and_grad(sp, y, lp, 40e-6)
    for idx in np.ndindex(4, 3):
        if not np.isfinite(sp[idx][0]):
            assert g[idx][0] == 0.0
            continue
        a, b = sp.copy(), sp.copy()
        a[idx + (0,)] += 1e-11
        b[idx + (0,)] -= 1e-11
        fd = (loss_and_grad(a, y, lp, 40e-6)[0] - loss_and_grad(b, y, lp, 40e-6)[0]) / 2e-11
        assert abs(fd - g[idx + (0,)]) <= 1e-6 * abs(fd) + 1e-3


def test_bad_loss_is_rejected(cli, tmp_path):
    r = cli(
        "train", "--algo", "eventprop", "--dataset", "yinyang", "--loss", "hinge", "--out", tmp_path / "run"
    )
    assert r.returncode == 2
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # a whole CLI run: imports, compilation, an epoch in the loop
@pytest.mark.brian2
def test_cli_run_in_the_loop_writes_a_run_folder(cli, tmp_path):
    import json

    from anamorph.training.eventprop.run import make_eventprop_config

    out = tmp_path / "run"
    r = cli(
        "train",
        "--algo",
        "eventprop",
        "--dataset",
        "yinyang",
        "--loss",
        "mse",
        "--epochs",
        "1",
        "--n-train",
        "200",
        "--n-test",
        "100",
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["algo"] == "eventprop" and m["loss"] == "mse" and m["epochs"] == 1
    assert 0.0 <= m["test_accuracy"] <= 1.0 and m["spikes_per_hidden_neuron"] > 0
    for name in ("checkpoint.npz", "weights.npz", "learning_curve.png", "confusion.png", "manifest.json"):
        assert (out / name).is_file()
    n_hidden = make_eventprop_config("yinyang").n_hidden  # the data set's default
    with np.load(out / "weights.npz") as f:
        assert np.abs(f["codes0"]).max() <= 63 and f["codes1"].shape == (n_hidden, 3)


@pytest.mark.brian2
def test_gradient_from_chip_spikes_agrees_with_ideal_model():
    """In the loop only the chip's spike times are read; the adjoint pinned to them must point
    where the ideal event model's exact gradient points (calibrated emulated chip)."""
    from anamorph.models.emulator import ChipEmulator
    from anamorph.training.datasets import load_dataset
    from anamorph.training.eventprop.loop import input_times, make_model, w_limit
    from anamorph.training.prepare import load_chip

    chip, nominal, _ = load_chip(None, None, 0)
    emu = ChipEmulator(chip, seed=0, noise=True, nominal=nominal)
    m = make_model(
        nominal,
        40e-6,
        LossParams(kind="mse"),
        (chip.process.weight_table_exc, chip.process.weight_table_inh),
        emu,
    )
    wl = w_limit(m)
    d = load_dataset("yinyang", seed=0)
    t_in = input_times(d.X_train[:50], 5, 12e-6, 0.0)
    rng = np.random.default_rng([0, 1])
    w = [
        np.clip(rng.normal(0.15, 0.25, (21, 60)) * wl, -wl, wl),
        np.clip(rng.normal(0.15, 0.25, (60, 3)) * wl, -wl, wl),
    ]
    wq = m.quantised(w)
    y = d.y_train[:50]
    grads = []
    for sp in (m.forward(t_in, wq, False), m.forward(t_in, w, True, 0)):
        _, g, _ = loss_and_grad(sp[-1], y, m.lp, m.p.duration_s)
        grads.append(backward(sp, wq, g, m.p))
    for a, b in zip(*grads):
        assert np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.8


def test_chip_events_become_per_neuron_spike_lists():
    """``spikes_by_layer`` puts every chip spike (stamp + dt/2) in its layer, sample and
    neuron, ascending, inf-padded to the most spikes any neuron fired; the reference is a
    per-neuron sort of the events written out here."""
    from anamorph.models.backend import SpikeEvents
    from anamorph.training.eventprop.loop import spikes_by_layer

    rng = np.random.default_rng(3)
    sizes, B, dt, n = [7, 4], 5, 0.5e-6, 120
    units = rng.integers(0, sum(sizes), n)
    units[:3] = 2  # one neuron with three spikes, out of order, in sample 0
    samples = rng.integers(0, B, n)
    samples[:3] = 0
    times = rng.integers(0, 80, n) * dt
    times[:3] = [30 * dt, 2 * dt, 17 * dt]
    layers = spikes_by_layer(SpikeEvents(times, units, samples, B), sizes, dt)
    first = 0
    for size, arr in zip(sizes, layers):
        assert arr.shape[:2] == (B, size)
        for b in range(B):
            for u in range(size):
                want = np.sort(times[(samples == b) & (units == first + u)]) + dt / 2
                got = arr[b, u]
                assert np.array_equal(got[: len(want)], want) and np.all(np.isinf(got[len(want) :]))
        most = max(np.sum((samples == b) & (units == first + u)) for b in range(B) for u in range(size))
        assert arr.shape[2] == max(1, most)
        first += size


@pytest.mark.slow
@pytest.mark.brian2
def test_yinyang_in_the_loop_accuracy(tmp_path):
    """EventProp with the spike-time MSE, in the loop on a calibrated emulated chip; 10
    epochs of a smaller network on the emulator's default step keep the suite short (the
    defaults' 80 epochs take about 16 minutes)."""
    from anamorph.training.eventprop.run import make_eventprop_config, train_eventprop

    c = make_eventprop_config(
        "yinyang", out=str(tmp_path / "run"), loss="mse", epochs=10, n_hidden=120, dt_s=0.5e-6, seed=0
    )
    m = train_eventprop(c, progress=None)
    print(f"EventProp Yin-Yang, 10 epochs in the loop: test {m['test_accuracy']:.4f}")
    assert m["test_accuracy"] >= 0.80


@pytest.mark.slow
@pytest.mark.brian2
def test_digits_in_the_loop_93_percent(tmp_path):
    """EventProp at the digits defaults (first-spike cross-entropy, silent label outputs
    pushed), in the loop on a calibrated emulated chip: at least 93 % of the test images."""
    from anamorph.training.eventprop.run import make_eventprop_config, train_eventprop

    c = make_eventprop_config("digits", out=str(tmp_path / "run"), seed=0)
    m = train_eventprop(c, progress=None)
    print(
        f"EventProp digits in the loop: test {m['test_accuracy']:.4f}, model {m['software_test_accuracy']:.4f}"
    )
    assert c.loss == "ttfs" and c.mode == "chip"
    assert m["test_accuracy"] >= 0.93


class _Interrupt(Exception):
    pass


def _stop_after_first_epoch(history_entry):
    raise _Interrupt


@pytest.mark.slow
@pytest.mark.brian2
@pytest.mark.parametrize("schedule", ["exp", "cosine"])
def test_resumed_run_equals_uninterrupted(tmp_path, schedule):
    """A run interrupted after its first epoch (its checkpoint written) and resumed ends with
    the weights of the uninterrupted run; with the exponential schedule a finished run can
    also be continued for more epochs."""
    from anamorph.training.eventprop.run import make_eventprop_config, train_eventprop

    kw = dict(loss="mse", seed=0, n_train=100, n_test=50, lr_schedule=schedule)
    train_eventprop(make_eventprop_config("yinyang", out=str(tmp_path / "a"), epochs=2, **kw), progress=None)
    b = make_eventprop_config("yinyang", out=str(tmp_path / "b"), epochs=2, **kw)
    with pytest.raises(_Interrupt):
        train_eventprop(b, progress=_stop_after_first_epoch)
    train_eventprop(b, resume=True, progress=None)
    runs = ["a", "b"]
    if schedule == "exp":
        train_eventprop(
            make_eventprop_config("yinyang", out=str(tmp_path / "c"), epochs=1, **kw), progress=None
        )
        train_eventprop(
            make_eventprop_config("yinyang", out=str(tmp_path / "c"), epochs=2, **kw),
            resume=True,
            progress=None,
        )
        runs.append("c")
    for run in runs[1:]:
        with np.load(tmp_path / "a" / "weights.npz") as fa, np.load(tmp_path / run / "weights.npz") as fb:
            for k in ("w0", "w1"):
                np.testing.assert_array_equal(fa[k], fb[k])


def test_mismatch_experiment_accepts_eventprop(tmp_path, capsys, monkeypatch):
    """``experiment mismatch --algo eventprop`` reaches the EventProp experiment with the
    yinyang defaults and the spreads in fractions (the experiment itself is stubbed)."""
    import anamorph.training.eventprop.mismatch as mm
    from anamorph.cli import main

    seen = {}

    def fake(c, out, sigmas, progress=None):
        seen.update(c=c, out=out, sigmas=sigmas)
        return [
            {
                "sigma_d": s,
                "in_the_loop_test_accuracy": 0.5,
                "in_the_loop_spikes_per_hidden_neuron": 1.0,
                "ideal_model_test_accuracy": 0.5,
            }
            for s in sigmas
        ]

    monkeypatch.setattr(mm, "eventprop_mismatch_experiment", fake)
    argv = ["experiment", "mismatch", "--algo", "eventprop", "--dataset", "yinyang", "--sigmas", "0,30"]
    code = main([*argv, "--epochs", "3", "--out", str(tmp_path / "mm")])
    assert code == 0, capsys.readouterr().err
    assert seen["sigmas"] == [0.0, 0.3]
    assert seen["c"].epochs == 3 and seen["c"].mode == "chip" and seen["c"].dataset == "yinyang"
    assert "EventProp in the loop" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--update", "on-chip"], "--update"),
        (["--dropout", "0.2"], "--dropout"),
        (["--scheduler", "local"], "--scheduler"),
        (["--sigmas", "0,x"], "--sigmas"),
    ],
)
def test_mismatch_experiment_eventprop_bad_options_one_line_exit_2(tmp_path, capsys, argv, word):
    from anamorph.cli import main

    out = tmp_path / "mm"
    code = main(
        ["experiment", "mismatch", "--algo", "eventprop", "--dataset", "yinyang", "--out", str(out), *argv]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and word in err
    assert not out.exists()

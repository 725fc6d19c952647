"""NIR in and out: ``anamorph export`` / ``anamorph import`` and ``train --init``.

References: the round trip is checked on the chip itself (same predictions before and
after); the snnTorch-convention graph against snnTorch's own discrete equations
(``syn = alpha syn + W s``, ``mem = beta mem + syn``, threshold 1), simulated here by hand.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

nir = pytest.importorskip("nir")

DT_SNNTORCH = 1e-4  # s, hard-coded in snnTorch's exporter
ALPHA = 0.95  # snnTorch's decay per step of the synaptic current and of the membrane


def _n_inputs(dataset: str = "digits") -> int:
    from anamorph.training.config import make_config
    from anamorph.training.prepare import prepare_data

    return prepare_data(make_config(dataset)).n_inputs


def _snntorch_cuba(n: int, alpha: float = ALPHA, beta: float = ALPHA):
    """A CubaLIF as snnTorch's exporter writes an ``snn.Synaptic`` layer."""
    tau_syn, tau_mem = DT_SNNTORCH / (1 - alpha), DT_SNNTORCH / (1 - beta)
    one = np.ones(n)
    return nir.CubaLIF(
        tau_syn=tau_syn * one,
        tau_mem=tau_mem * one,
        r=tau_mem / DT_SNNTORCH * one,
        v_leak=0 * one,
        v_threshold=one,
        v_reset=0 * one,
        w_in=tau_syn / DT_SNNTORCH * one,
    )


def _snntorch_graph(w1, w2, hidden=None, extra_edges=(), extra_nodes=None):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([w1.shape[1]])}),
        "0": nir.Affine(weight=w1, bias=np.zeros(w1.shape[0])),
        "1": hidden if hidden is not None else _snntorch_cuba(w1.shape[0]),
        "2": nir.Linear(weight=w2),
        "3": _snntorch_cuba(w2.shape[0]),
        "output": nir.Output(output_type={"output": np.array([w2.shape[0]])}),
        **(extra_nodes or {}),
    }
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output"), *extra_edges]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _weights(n_in: int, seed: int = 0):
    rng = np.random.default_rng([seed, 0])
    return rng.uniform(-0.03, 0.03, (12, n_in)), rng.uniform(-0.03, 0.03, (10, 12))


def test_snntorch_convention_is_read_in_seconds_with_its_time_step(tmp_path):
    from anamorph.training.snn import NetParams, forward

    w1, w2 = _weights(_n_inputs())
    path = tmp_path / "snntorch.nir"
    nir.write(path, _snntorch_graph(w1, w2))
    from anamorph.training.nir.importer import import_graph

    run_dir, report = import_graph(path, tmp_path / "run", dataset="digits", dt_graph=DT_SNNTORCH)
    # by hand: alpha per step of 1e-4 s is the exact time constant -dt/ln(alpha) = 1.95 ms,
    # which the chip runs at 6 µs
    tau_exact_s = -DT_SNNTORCH / np.log(ALPHA)
    k = 6e-6 / tau_exact_s
    assert report["time_scale_chip_s_per_graph_unit"] == pytest.approx(k, rel=1e-12)
    assert report["weights_clipped"] == 0
    # snnTorch adds W per step (dt) to the membrane's increment, threshold 1: a drive of
    # W / dt per graph second, W / (k dt) per chip second; one chip step (0.5 µs, exact
    # propagator at tau_m = tau_syn = 6 µs) turns a drive G into the per-step weight
    # G dt_chip exp(-dt_chip / tau)
    step = 0.5e-6 * np.exp(-0.5e-6 / 6e-6)
    with np.load(run_dir / "weights.npz") as f:
        np.testing.assert_allclose(f["w0"], w1.T / (k * DT_SNNTORCH) * step, rtol=1e-10)
        np.testing.assert_allclose(f["w1"], w2.T / (k * DT_SNNTORCH) * step, rtol=1e-10)
        w0 = f["w0"]

    # the behaviour: one input spike's PSP in snnTorch's own equations against the imported
    # network in anamorph's software model (the chip's nominal dynamics)
    syn = mem = 0.0
    psp = []
    for t in range(400):
        syn = ALPHA * syn + (w1[0, 0] if t == 0 else 0.0)
        mem = ALPHA * mem + syn
        psp.append(mem)
    n_chip = int(round(400 * DT_SNNTORCH * k / 0.5e-6))
    x = np.zeros((1, n_chip, 1))
    x[0, 0, 0] = 1.0
    p = NetParams(dt_s=0.5e-6, tau_m_s=6e-6, tau_syn_s=6e-6)
    v = forward(x, [w0[:1, :1], np.zeros((1, 1))], p).v[0][0, :, 0]
    assert np.max(np.abs(v)) < 1 and np.max(np.abs(psp)) < 1  # no spikes in either
    # snnTorch adds the step's input before its membrane decays: its PSP is 1/alpha higher
    assert np.max(np.abs(v)) == pytest.approx(np.max(np.abs(psp)) * ALPHA, rel=0.02)
    t_peak_chip = np.argmax(np.abs(v)) * 0.5e-6
    t_peak_snntorch = np.argmax(np.abs(psp)) * DT_SNNTORCH * k
    # at tau = 6 µs after the spike in both, up to each model's step of delivery (the chip
    # model's spike acts on the current one step later and on the membrane one more)
    assert abs(t_peak_chip - t_peak_snntorch) <= DT_SNNTORCH * k + 2 * 0.5e-6


def test_exported_cuba_lif_solved_analytically_is_the_run_s_model(tmp_path):
    """NIR's CubaLIF with the exported parameters and one Dirac spike, solved in closed form
    (tau_mem = tau_syn = tau: v - v_leak = r w_in W t exp(-t/tau) / tau^2), is the run's
    software model (the chip's nominal dynamics) at every step."""
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.training.config import make_config
    from anamorph.training.nir.export import build_graph
    from anamorph.training.snn import NetParams, forward

    c = make_config("digits", n_hidden=3)
    w0, w1 = np.full((4, 3), 0.02), np.zeros((3, 2))
    nir.write(tmp_path / "net.nir", build_graph(c, [w0, w1], DEFAULT_TARGETS, ("x", "test")))
    g = nir.read(tmp_path / "net.nir")  # with type checking
    node, weight = g.nodes["hidden"], g.nodes["hidden_weights"].weight
    np.testing.assert_array_equal(weight, w0.T)
    tau, r, w_in = node.tau_mem[0], node.r[0], node.w_in[0]
    assert node.tau_syn[0] == tau
    dt = 0.5  # ms of graph time: the chip's 0.5 µs step
    t = np.arange(60) * dt
    v_nir = r * w_in * weight[0, 0] * t * np.exp(-t / tau) / tau**2
    u_nir = v_nir / (node.v_threshold[0] - node.v_leak[0])
    x = np.zeros((1, 62, 4))
    x[0, 0, 0] = 1.0
    p = NetParams(dt_s=c.dt_s, tau_m_s=6e-6, tau_syn_s=6e-6)
    v_model = forward(x, [w0, w1], p).v[0][0, :, 0]
    # the model's spike at step 0 reaches its current at step 1 and its membrane at step 2
    np.testing.assert_allclose(v_model[1:61], u_nir, rtol=1e-9, atol=1e-15)


def _refused(tmp_path, graph, node, match, **kw):
    from anamorph.errors import InputError
    from anamorph.training.nir.importer import import_graph

    path = tmp_path / "g.nir"
    nir.write(path, graph)
    with pytest.raises(InputError, match=match) as e:
        import_graph(path, tmp_path / "run", dataset="digits", dt_graph=DT_SNNTORCH, **kw)
    assert e.value.field == node
    assert not (tmp_path / "run").exists()


def test_what_does_not_fit_the_chip_is_refused_naming_the_node(tmp_path):
    n_in = _n_inputs()
    w1, w2 = _weights(n_in)
    # recurrent edge (snnTorch's RSynaptic written flat)
    rec = {"rec": nir.Linear(weight=np.eye(12))}
    _refused(
        tmp_path,
        _snntorch_graph(w1, w2, extra_nodes=rec, extra_edges=[("1", "rec"), ("rec", "1")]),
        "1",
        "outgoing",
    )
    # fan-in beyond 256 synapse rows
    big = np.zeros((12, 300))
    _refused(tmp_path, _snntorch_graph(big, w2), "0", "synapse rows")
    # tau_syn != tau_mem: the chip is calibrated to equal time constants
    _refused(tmp_path, _snntorch_graph(w1, w2, hidden=_snntorch_cuba(12, alpha=0.8)), "1", "tau_syn")
    # a node type the chip has no counterpart for
    g = _snntorch_graph(w1, w2, hidden=nir.Scale(scale=np.ones(12)))
    _refused(tmp_path, g, "1", "Scale")
    # too many neurons: 260 hidden exceed the readout's fan-in
    _refused(
        tmp_path,
        _snntorch_graph(np.zeros((260, n_in)), np.zeros((10, 260)), _snntorch_cuba(260)),
        "1",
        "fan-in",
    )


@pytest.mark.parametrize("content", ["truncated", "text", "hdf5-without-graph"])
def test_a_file_that_is_not_nir_gives_one_line_and_exit_2(tmp_path, cli, content):
    path = tmp_path / "bad.nir"
    if content == "truncated":
        nir.write(path, _snntorch_graph(*_weights(_n_inputs())))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "text":
        path.write_text("not a network\n")
    else:
        import h5py

        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=np.arange(3))
    r = cli("import", path, "--out", tmp_path / "run", "--dataset", "digits")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.nir" in lines[0] and "NIR" in lines[0], r.stderr
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small digits network trained in the loop for one epoch on chip 0 (uncalibrated)."""
    from anamorph.models.chip import sample_chip
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.config import make_config
    from anamorph.training.run import train_run

    d = tmp_path_factory.mktemp("nir")
    chip = sample_chip(ProcessModel.default(), 0)
    chip.save(d / "chip.json")
    c = make_config(
        "digits", out=str(d / "run"), epochs=1, n_train=40, n_test=20, batch_size=20, n_hidden=12, seed=3
    )
    train_run(c, chip=chip, nominal=DEFAULT_TARGETS, progress=None)
    return d, chip


def _evaluate(run_dir, chip) -> dict:
    """A run folder deployed on ``chip``: what ``evaluate_run`` computes, with the predictions."""
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.training.prepare import prepare_data
    from anamorph.training.run import FINAL_EVAL, _runner, load_run

    c, w = load_run(run_dir)
    prep = prepare_data(replace(c, out=None))
    runner, _ = _runner(c, prep, chip, DEFAULT_TARGETS)
    return runner.evaluate(w, prep.data.X_test, prep.data.y_test, True, FINAL_EVAL)


@pytest.mark.brian2
@pytest.mark.slow  # trains a small network in the loop first (about a minute in all)
def test_export_import_round_trip_predicts_the_same_on_the_chip(trained, cli):
    d, chip = trained
    r = cli("export", d / "run", "--nir", d / "net.nir")
    assert r.returncode == 0, r.stderr
    g = nir.read(d / "net.nir")  # with type checking
    kinds = [type(g.nodes[a]).__name__ for a, _ in g.edges] + ["Output"]
    assert kinds == ["Input", "Linear", "CubaLIF", "Linear", "CubaLI", "Output"]
    assert g.nodes["hidden"].tau_mem[0] == pytest.approx(6.0)  # ms, biological-equivalent
    assert g.nodes["hidden"].v_threshold[0] == pytest.approx(550.0)  # mV
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.metadata.items()}
    assert meta["time_unit"] == "ms" and meta["dt"] == pytest.approx(0.5)
    assert meta["chip_fingerprint"] == chip.fingerprint()
    assert meta["weight_bits"] == 6 and meta["codes_per_unit"] > 0

    r = cli("import", d / "net.nir", "--out", d / "imported", "--chip", d / "chip.json")
    assert r.returncode == 0, r.stderr
    assert "time scale: 1 time unit of the graph = 1e-06 s on the chip" in r.stdout
    with np.load(d / "run" / "weights.npz") as a, np.load(d / "imported" / "weights.npz") as b:
        for key in ("codes0", "codes1"):
            np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_allclose(a["w0"], b["w0"], rtol=1e-12, atol=0)
    before, after = _evaluate(d / "run", chip), _evaluate(d / "imported", chip)
    np.testing.assert_array_equal(before["predictions"], after["predictions"])
    for key in ("accuracy", "spikes_per_sample"):
        assert before[key] == after[key]


@pytest.mark.brian2
def test_train_init_starts_from_an_imported_run(tmp_path):
    from anamorph.errors import InputError
    from anamorph.models.chip import sample_chip
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.config import make_config
    from anamorph.training.nir.importer import import_graph
    from anamorph.training.run import load_run, train_run

    nir.write(tmp_path / "net.nir", _snntorch_graph(*_weights(_n_inputs())))
    imported, _ = import_graph(
        tmp_path / "net.nir", tmp_path / "imported", dataset="digits", dt_graph=DT_SNNTORCH
    )
    chip = sample_chip(ProcessModel.default(), 0)
    c = make_config(
        "digits", out=str(tmp_path / "tuned"), epochs=0, n_train=20, n_test=20, batch_size=20, n_hidden=12
    )
    res = train_run(c, chip=chip, nominal=DEFAULT_TARGETS, progress=None, init=imported)
    for a, b in zip(res.weights, load_run(imported)[1]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="layers"):
        train_run(
            replace(c, n_hidden=13, out=str(tmp_path / "other")),
            chip=chip,
            nominal=DEFAULT_TARGETS,
            progress=None,
            init=imported,
        )
    assert not (tmp_path / "other").exists()

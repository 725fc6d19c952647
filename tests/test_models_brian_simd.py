"""The vectorising code object against Brian2's own Cython code object.

A NeuronGroup with a leaky update (``run_regularly``), a threshold, a reset and recurrent
synapses runs once with Brian2's Cython templates and once with :func:`simd_code_object`'s
(through Brian2's ordinary ``Network.run``, without the per-unit period: every array is
read at the neuron's index). Membranes, currents and spikes must agree bit for bit: the
templates change how the loops are compiled and how spikes reach the synapses (without
Brian2's spike queue), not the arithmetic or its order. The per-unit reads of a batch of
copies are checked through the emulator against the numpy reference
(``test_models_emulator.py``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from anamorph.models.brian_simd import default_threads, per_unit_arrays

pytestmark = pytest.mark.brian2

N = 37  # not a multiple of the vector width: the loop's remainder runs too
MODEL = """
v : 1
I : 1
refr : integer
decay : 1 (constant)
gain : 1 (constant)
thr : 1 (constant)
"""
UPDATE = """
active = 1.0*int(refr == 0)
v = active*(v*decay + I*gain) + (1 - active)*v
refr = refr - int(refr != 0)
I = I*0.9 + 0.01*(i % 5)
"""


def _run(codeobj_class):
    """Membranes, currents, spike indices and times after 200 steps, and the network."""
    import brian2 as b2

    b2.prefs.codegen.target = "cython"
    b2.prefs.logging.console_log_level = "ERROR"
    b2.start_scope()
    b2.defaultclock.dt = 1e-6 * b2.second
    g = b2.NeuronGroup(
        N,
        MODEL,
        threshold="v >= thr and refr == 0",
        reset="v = 0; refr = 3",
        codeobj_class=codeobj_class,
    )
    g.run_regularly(UPDATE, when="groups")
    rng = np.random.default_rng(4)
    syn = b2.Synapses(g, g, "w : 1", on_pre="I_post += w", codeobj_class=codeobj_class)
    pre, post = np.nonzero(rng.random((N, N)) < 0.3)  # sorted by source, shared targets
    syn.connect(i=pre, j=post)
    syn.w = rng.normal(0, 0.02, pre.size)
    g.decay = rng.uniform(0.8, 0.95, N)
    g.gain = rng.uniform(0.5, 2.0, N)
    g.thr = rng.uniform(0.2, 0.6, N)
    g.v = rng.uniform(0, 0.3, N)
    spikes = b2.SpikeMonitor(g)
    net = b2.Network(g, syn, spikes)
    net.run(200 * b2.defaultclock.dt)
    i, t = spikes.it
    out = np.array(g.v[:]), np.array(g.I[:]), np.asarray(i), np.asarray(t / b2.second)
    return out, (net, syn)


@pytest.fixture(scope="module")
def runs():
    """Brian2's own code objects, then ours (compiled once for the module's tests)."""
    from anamorph.models.brian_simd import simd_code_object

    return _run(None), _run(simd_code_object())


def test_vectorised_loops_equal_brians_own(runs):
    (v0, i0, n0, t0), _ = runs[0]
    (v1, i1, n1, t1), _ = runs[1]
    assert n0.size > 2 * N  # every neuron fires a few times: the threshold is exercised
    assert np.array_equal(v0, v1) and np.array_equal(i0, i1)
    assert np.array_equal(n0, n1) and np.array_equal(t0, t1)


def test_queue_free_delivery_refuses_what_it_cannot_deliver(runs):
    import brian2 as b2

    from anamorph.models.brian_simd import source_offsets

    assert np.array_equal(source_offsets(np.array([0, 0, 2, 2, 2]), 4), [0, 2, 2, 5, 5])
    with pytest.raises(ValueError, match="increasing order"):
        source_offsets(np.array([1, 0]), 2)
    _, (net, syn) = runs[1]
    syn.delay = 1e-3 * b2.second  # a new run checks again, with the compiled modules
    with pytest.raises(Exception) as err:
        net.run(b2.defaultclock.dt)
    causes = [err.value]
    while causes[-1].__cause__ is not None:  # Brian2 wraps the template's error twice
        causes.append(causes[-1].__cause__)
    assert any("zero delays" in str(e) for e in causes)


def test_per_unit_arrays_are_the_constant_per_neuron_ones():
    import brian2 as b2

    b2.start_scope()
    g = b2.NeuronGroup(4, MODEL + "shared_c : 1 (constant, shared)\n")
    names = per_unit_arrays(g.variables, lambda var: var.name)
    assert sorted(names) == ["decay", "gain", "thr"]  # not i, N, v, I, refr or shared_c


def test_default_threads_follow_omp_num_threads_then_the_cpu_quota(tmp_path, monkeypatch):
    """OMP_NUM_THREADS first; otherwise the CPU mask, capped by a cgroup quota (1.5 CPUs:
    2 threads) and not by an unlimited one or a missing or garbled quota file."""
    cpus = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(str(quota)) == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    for text, expected in (
        ("150000 100000", min(cpus, 2)),
        ("50000 100000", 1),
        ("max 100000", cpus),
        ("x", cpus),
    ):
        quota.write_text(text + "\n")
        assert default_threads(str(quota)) == expected
    assert default_threads(str(tmp_path / "absent")) == cpus

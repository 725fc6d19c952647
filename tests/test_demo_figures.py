"""The demo report's figures and tables are not empty and state numbers in their own units (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.circuits.testbench import lif_rate_hz
from anamorph.demo_report import (
    _calibration_facts,
    _process_facts,
    held_out_current,
    overlay_figure,
    spike_time_error,
)
from anamorph.models.lif_fit import lif_spike_times
from anamorph.models.process_model import provisional

#: a LIF like the sweep's instances (their measured values are of this size)
P = {"v_leak_v": 0.40, "v_th_v": 0.55, "v_reset_v": 0.35, "tau_m_s": 7e-6, "t_ref_s": 2e-6, "c_mem_f": 2e-12}


def _spiking_data(fig) -> list[np.ndarray]:
    """The event positions of every event collection in ``fig``."""
    from matplotlib.collections import EventCollection

    return [
        np.asarray(c.get_positions())
        for ax in fig.axes
        for c in ax.collections
        if isinstance(c, EventCollection)
    ]


def test_held_out_input_crosses_rheobase_and_the_figure_shows_spikes():
    t, i = held_out_current(P)
    rheobase = P["c_mem_f"] * (P["v_th_v"] - P["v_leak_v"]) / P["tau_m_s"]
    assert i.min() > rheobase and i.max() > 2 * rheobase
    # the analytic rate at the smallest current of the input is positive (Gerstner eq. 1.13)
    assert (
        lif_rate_hz(
            i.min(), *(P[k] for k in ("v_leak_v", "v_th_v", "v_reset_v", "tau_m_s", "t_ref_s", "c_mem_f"))
        )
        > 0
    )
    spikes = lif_spike_times(P, t, i)
    assert spikes.size >= 5
    import matplotlib.pyplot as plt

    fig = overlay_figure(t, i, spikes + 1e-8, spikes, "check")
    events = _spiking_data(fig)
    plt.close(fig)
    assert len(events) == 2 and all(e.size >= 5 for e in events)


def test_an_input_below_rheobase_gives_an_empty_figure_that_the_check_catches():
    t = np.linspace(0, 60e-6, 601)
    i = 1.0e-9 + 0.6e-9 * np.sin(2 * np.pi * t / 40e-6)  # nA: far below a rheobase of tens of nA
    spikes = lif_spike_times(P, t, i)
    import matplotlib.pyplot as plt

    fig = overlay_figure(t, i, spikes, spikes, "check")
    events = _spiking_data(fig)
    plt.close(fig)
    assert not any(e.size for e in events)


def test_spike_time_error_pairs_kth_spikes():
    e = spike_time_error([1e-6, 3e-6, 5e-6], [1.1e-6, 2.8e-6])
    assert e["n_spikes_ngspice"] == 3 and e["n_spikes_model"] == 2
    assert e["mean_abs_error_s"] == pytest.approx(0.15e-6) and e["max_abs_error_s"] == pytest.approx(0.2e-6)
    assert e["median_isi_s"] == pytest.approx(2e-6)
    assert spike_time_error([], [1e-6])["mean_abs_error_s"] is None


def test_process_table_states_offsets_in_the_parameters_unit():
    """tau_m of the provisional model: 1/tau = 1e3 + 2.86e5 x with an offset sd of 5e3 1/s; at the
    default 6 µs a shift of 1/tau by 5e3 1/s moves tau by 6e-6 - 1/(1/6e-6 + 5e3) = 0.18 µs."""
    facts = {f.what.split(":")[0]: f.value for f in _process_facts(provisional())}
    tau = float(facts["tau_m"].split()[0])
    assert tau == pytest.approx((6e-6 - 1 / (1 / 6e-6 + 5e3)) * 1e6, rel=0.05)
    assert facts["tau_m"].split()[1] == "µs"
    assert facts["v_th"].startswith("10 mV")  # linear DAC: 10 mV offset spread


def test_calibration_table_says_below_one_adc_step():
    cal = {
        "spread_before": {"A": {"v_reset": 0.012, "tau_m": 0.15}},
        "spread_after": {"A": {"v_reset": 1.88e-15, "tau_m": 0.004}},
        "spread_after_true": {"A": {"v_reset": 0.0051, "tau_m": 0.0042}},
    }
    facts = {f.what.split(":")[0]: f for f in _calibration_facts(cal, provisional())}
    v = facts["chip A v_reset"].value
    assert "below one ADC step (3.1 mV)" in v and "true spread after: 5.1" in v and "e-15" not in v
    assert facts["chip A tau_m"].value.startswith("15 → 0.4")


def test_confusion_axes_have_integer_classes_only(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from anamorph.training import plots

    captured = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (captured.append(fig), real_close(fig)))
    plots.confusion(np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]]), tmp_path / "c.png")
    ax = captured[0].axes[0]
    assert list(ax.get_xticks()) == [0, 1, 2] and list(ax.get_yticks()) == [0, 1, 2]


@pytest.mark.spice
def test_held_out_input_makes_the_transistor_level_neuron_spike():
    """The check figure's input, derived from an instance's measured rheobase, drives the ngspice
    neuron well above threshold: several spikes within the 60 µs window (the nA-scale input used
    before gave none)."""
    from anamorph.circuits.lif.circuit import Instance, simulate_lif_current

    inst = Instance(0, 0)
    p = {
        "v_leak_v": inst.v_leak(),
        "v_th_v": inst.v_th(),
        "tau_m_s": inst.tau_m(),
        "c_mem_f": inst.small_signal()[1],
    }
    t, i = held_out_current(p)
    assert simulate_lif_current(0, 0, t, i).size >= 5

"""The coupled agent model (model.analysis.network, ``coupled=True``): each customer's
platform and relational trust, and the incumbent's economics (the ODE's own equations) fed
by the agents' share. With the ties drawn anew every step (the well-mixed limit) the agents
must reproduce the ODE: mean trusts, the incumbent's fall time and the point of no return,
within a sampling error that shrinks as 1/sqrt(n)."""

from __future__ import annotations

import numpy as np
import pytest

from model.analysis import network as nw
from model.analysis.tipping import point_of_no_return
from model.core.firms import aggregate
from model.core.simulate import simulate

DT = 0.05
#: What the first-order step may cost: the agents hold each customer's exposure and the
#: incumbent holds the share over a step, an O(dt) lag; allowed: a few steps on a 20-year fall.
STEP_LAG = 5 * DT


@pytest.fixture(scope="module")
def params(baseline):
    # The baseline sector (its incumbent falls), seeded at 2% so that the first adopters are
    # not a lottery of a handful of customers at the smallest n.
    return aggregate(baseline.params).replace(initial_platform_share=0.02, horizon=25.0)


@pytest.fixture(scope="module")
def ode(params):
    return simulate(params, t_eval=np.arange(0.0, 25.0 + 1e-9, DT))


@pytest.fixture(scope="module")
def runs(params):
    out = {}
    for n, seeds in ((1000, 16), (16000, 6)):
        graph = nw.make_graph("mixed", n, int(params.close_ties))
        out[n] = [nw.simulate_network(params, graph, seed=s, dt=DT, coupled=True) for s in range(seeds)]
    return out


def test_the_well_mixed_incumbent_falls_when_the_odes_does(runs, ode):
    assert ode.falls
    spread = {}
    for n, rs in runs.items():
        assert all(r.falls for r in rs)
        times = np.array([r.fall_time for r in rs])
        spread[n] = times.std(ddof=1)
        # Within sampling error (three standard errors of the mean) and the step's lag.
        assert abs(times.mean() - ode.fall_time) < 3 * spread[n] / np.sqrt(times.size) + STEP_LAG
    # Sixteen times the customers: a quarter of the spread (1/sqrt(n)); the estimate of a
    # standard deviation from 6-16 runs is good to about 30%.
    assert 2.0 < spread[1000] / spread[16000] < 8.0


def test_mean_trusts_follow_the_odes_trust_in_the_mixed_limit(runs, ode):
    """Each customer's trust moves with the transactions among her close ties, d_P x_i;
    drawn anew every step, E[x_i] = s, so the mean trusts obey the ODE's dT/dt and dR/dt."""
    rms = {}
    for n, rs in runs.items():
        gaps = []
        for r in rs:
            j = min(r.t.size, ode.t.size)
            for mean, name in ((r.trust, "platform_trust"), (r.relational, "relational_trust")):
                gaps.append(np.sqrt(np.mean((mean[:j] - ode[name][:j]) ** 2)))
        rms[n] = float(np.mean(gaps))
    assert 2.0 < rms[1000] / rms[16000] < 8.0
    assert rms[16000] < 0.02  # trust is in [0, 1]; it climbs from 0.2 to about 0.7 here
    # The trusts really move (not a held run): the ODE's trust more than triples.
    assert ode["platform_trust"][int(10 / DT)] > 3 * ode["platform_trust"][0]


def test_the_agents_point_of_no_return_is_the_odes(params, runs):
    ode_ponr = point_of_no_return(params, window="horizon")
    assert ode_ponr.outcome == "tips"
    graph = nw.make_graph("mixed", 4000, int(params.close_ties))
    found = [nw.point_of_no_return(params, graph, seed=s, dt=DT) for s in range(2)]
    assert all(f.outcome == "tips" for f in found)
    # The fall-time spread at n = 16000 scaled to n = 4000 (1/sqrt(n)), for the mean of two.
    sigma = np.std([r.fall_time for r in runs[16000]], ddof=1) * 2.0
    times = np.array([f.time for f in found])
    assert abs(times.mean() - ode_ponr.time) < 3 * sigma / np.sqrt(2) + STEP_LAG + DT  # + the bisection's step
    # The tipping share, read where the agents tip, against the ODE's: the share of gross
    # moves about 4 points a year there, so the time bound above bounds it.
    shares = np.array([f.share for f in found])
    slope = float(np.max(np.abs(np.gradient(runs[16000][0].output("platform_share_of_gross"), DT))))
    assert abs(shares.mean() - ode_ponr.share) < slope * (3 * sigma / np.sqrt(2) + STEP_LAG + DT)
    assert all(f.bracket[1] - f.bracket[0] == pytest.approx(DT) for f in found)


def test_a_coupled_run_reproduces_exactly_and_a_frozen_one_follows_it_to_the_freeze(params):
    graph = nw.make_graph("watts_strogatz", 2000, 14, seed=2)
    a = nw.simulate_network(params, graph, seed=3, coupled=True, horizon=15.0)
    b = nw.simulate_network(params, graph, seed=3, coupled=True, horizon=15.0)
    assert np.array_equal(a.state, b.state)
    frozen = nw.simulate_network(params, graph, seed=3, coupled=True, horizon=15.0, freeze_acquisition_at=5.0)
    j = int(round(5.0 / 0.05))
    assert np.array_equal(frozen.state[:j + 1], a.state[:j + 1])
    assert np.all(np.diff(frozen.share[j:]) <= 0)  # nobody joins after the freeze
    assert frozen.share[-1] < a.share[-1]


def test_clustering_is_networkx_average_clustering():
    import networkx as nx

    from model.analysis.network_compare import clustering

    g = nw.make_graph("watts_strogatz", 600, 6, seed=4, rewiring=0.2)
    reference = nx.average_clustering(nx.from_scipy_sparse_array(g.adjacency))
    assert clustering(g) == pytest.approx(reference, rel=1e-12)
    # A ring of k nearest neighbours has the closed form 3(k - 2) / (4(k - 1)) (Watts and Strogatz 1998).
    ring = nw.make_graph("watts_strogatz", 600, 6, seed=4, rewiring=0.0)
    assert clustering(ring) == pytest.approx(3 * 4 / (4 * 5))
    assert clustering(nw.make_graph("mixed", 600, 6)) is None


def test_critical_mass_row_on_the_mixed_graph_is_the_mean_fields(baseline):
    from model.analysis.network_compare import critical_mass_row, threshold_setting

    p = threshold_setting(baseline.params)
    assert not p.hard_network and p.contagion == "threshold"
    row = critical_mass_row(baseline.params, "mixed", n=6000, k=12, seed=1)
    assert row.mean_field == pytest.approx(nw.mean_field_critical_mass(p, k=12))
    # Bisection to 0.005, plus a share's sampling error at n = 6000 near the unstable root.
    assert row.bracket[0] - 0.01 <= row.mean_field <= row.bracket[1] + 0.01


def test_the_network_figure_and_the_papers_table_show_the_same_rows(tmp_path):
    import json

    from model.analysis.network_compare import CriticalMassRow, TippingRow
    from model.publish import figures, paper

    def cm(family, k, network, clustering=None, rewiring=None):
        return CriticalMassRow(family=family, n=100, k=k, mean_degree=float(k), clustering=clustering,
                               rewiring=rewiring, network=network, bracket=(0.0, 0.01), mean_field=0.0625,
                               runs=1).as_dict()

    by_rewiring = [cm("watts_strogatz", 12, 0.05, 0.5, 0.1), cm("watts_strogatz", 12, 0.075, 0.0, 1.0)]
    by_k = {"random regular": [cm("random_regular", 6, 0.375), cm("random_regular", 12, 0.08)]}
    fig = figures.network_critical_mass(by_rewiring, by_k, by_k["random regular"])
    assert [tr.y[0] for tr in fig.data[:3]] == [0.05, 0.0625, 0.375]
    tipping = TippingRow(family="erdos_renyi", n=100, k=14, clustering=0.001, outcome="tips", fall_time=20.25,
                         ponr_time=18.5, share=0.625, volume_share=0.8, ode_outcome="tips", ode_fall_time=19.0,
                         ode_ponr_time=17.75, ode_share=0.613, ode_volume_share=0.79).as_dict()
    notes = {"network": {"n": 100, "seed": 1, "threshold": 3.0, "by_rewiring": by_rewiring, "by_k": by_k,
                         "families": [cm("mixed", 12, 0.0625), cm("configuration", 12, None, 0.007)],
                         "tipping": [tipping]}}
    (tmp_path / "figures.json").write_text(json.dumps({"figures": [{"name": "network_critical_mass",
                                                                     "notes": notes}]}))
    md = paper.network_markdown(tmp_path)
    assert "| well mixed | 12 | — | 6.2% | 6.2% | +0.0 points |" in md
    assert "| heavy-tailed configuration | 12 | 0.007 | below 0.5% | 6.2% | — |" in md
    assert "| Erdős–Rényi | 20.2 yr | 19.0 yr | 18.5 yr | 17.8 yr | 62.5% | 61.3% |" in md
    assert paper.network_markdown(tmp_path / "absent") == ""


def test_the_network_command_runs_the_coupled_model_and_writes_its_files(baseline_path, tmp_path, capsys):
    import csv
    import json

    from model.commands.cli import main

    out = tmp_path / "net"
    assert main(["network", str(baseline_path), "--graph", "random_regular", "--n", "2000", "--k", "12",
                 "--seed", "2", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((out / "network.json").read_text()) == printed
    c = printed["coupled"]
    assert c["ode_falls"] and c["falls"]  # the baseline's incumbent falls in both
    assert abs(c["fall_time"] - c["ode_fall_time"]) < 5.0
    with (out / "network.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["t", "held_share", "held_mean_field", "coupled_share", "coupled_trust"]
    assert len(rows) == int(round(40 / 0.05)) + 1
    assert rows[-1]["coupled_share"] == ""  # the coupled run ended at the fall
    (tmp_path / "file").write_text("x")
    assert main(["network", str(baseline_path), "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err

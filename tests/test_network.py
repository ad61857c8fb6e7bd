"""The agent model on graphs (model.analysis.network) against closed forms: the well-mixed
limit against the mean field (sampling error shrinking as 1/sqrt(n), and the discrete step
against the ODE, first order in dt); threshold cascades on random regular graphs against
Watts (2002) and Gleeson and Cahalane (2007); exact reproduction from a seed; edge-list
files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from model.analysis import network as nw
from model.core.parameters import Parameters

#: Trust, relational trust and price held; a captive share and relational trust so that
#: every factor of F_in and F_out is exercised.
MIXED = Parameters(direct_adoption_rate=0.05, word_of_mouth_rate=1.0, churn_rate=0.3, trust_gain=0.0,
                   trust_decay=0.0, initial_trust=1.0, relational_gain=0.0, relational_decay=0.0,
                   initial_relational_trust=0.5, captive_share=0.2, price_policy="fixed", horizon=10.0,
                   initial_platform_share=0.01, close_ties=10.0)
THRESHOLD = MIXED.replace(contagion="threshold", contagion_threshold=2.0, direct_adoption_rate=0.0,
                          initial_platform_share=0.1)

#: Watts' setting: no direct adoption, no churn, adoption (near) certain once exposed.
CASCADE = Parameters(direct_adoption_rate=0.0, word_of_mouth_rate=3.0, churn_rate=0.0, trust_gain=0.0,
                     trust_decay=0.0, initial_trust=1.0, relational_gain=0.0, relational_decay=0.0,
                     network_value=0.0, platform_quality=0.0, platform_price=1.0, price_policy="fixed",
                     horizon=40.0, contagion="threshold", contagion_threshold=1.0)


def _rms_against_mean_field(params, n, runs=6, dt=0.05):
    graph = nw.make_graph("mixed", n, 10)
    out = [nw.simulate_network(params, graph, seed=r, dt=dt) for r in range(runs)]
    expected = nw.mean_field_steps(params, k=10, dt=dt, steps=out[0].t.size - 1, seed_share=out[0].share[0])
    return float(np.sqrt(np.mean([(o.share - expected) ** 2 for o in out])))


@pytest.mark.parametrize("params", [MIXED, THRESHOLD], ids=["simple", "threshold"])
def test_well_mixed_agents_follow_the_mean_field_within_sampling_error(params):
    # Sixteen times the customers: a quarter of the deviation (1/sqrt(n)); and the
    # deviation is sampling error, a share's O(1/sqrt(n)), not a bias.
    small, large = _rms_against_mean_field(params, 500), _rms_against_mean_field(params, 8000)
    assert 2.5 < small / large < 6.5
    assert large * np.sqrt(8000) < 1.0


@pytest.mark.parametrize("params", [MIXED, THRESHOLD], ids=["simple", "threshold"])
def test_the_agents_mean_step_tends_to_the_ode_first_order_in_dt(params):
    t = np.arange(201) * 0.05
    ode = nw.mean_field(params, t, k=10)
    gaps = []
    for dt in (0.05, 0.025, 0.0125):
        every = int(round(0.05 / dt))
        steps = nw.mean_field_steps(params, k=10, dt=dt, steps=200 * every)[::every]
        gaps.append(float(np.abs(steps - ode).max()))
    assert 0.001 < gaps[0] < 0.03  # what dt = 0.05 costs
    assert gaps[0] / gaps[1] == pytest.approx(2.0, rel=0.05)
    assert gaps[1] / gaps[2] == pytest.approx(2.0, rel=0.05)


def test_the_mean_field_is_the_models_own_threshold_equation():
    # ds/dt = A w T tail(s) (1 - kappa - s) - A_out c (1 - rho R) s, A = A_out = 1/2 here.
    from model.core.special import tail

    p = THRESHOLD.replace(network_value=0.0, platform_quality=0.0, platform_price=1.0, horizon=2.0)
    s = nw.mean_field(p, np.array([0.0, 1e-4]), k=10)
    rate = (s[1] - s[0]) / 1e-4
    s0 = p.initial_platform_share
    expected = 0.5 * 1.0 * tail(s0, 10.0, 2.0) * (1 - 0.2 - s0) - 0.5 * 0.3 * (1 - 0.7 * 0.5) * s0
    assert rate == pytest.approx(expected, rel=1e-3)


@pytest.fixture(scope="module")
def regular():
    return nw.make_graph("random_regular", 20000, 6, seed=3)


def test_watts_cascade_condition_on_random_regular_graphs(regular):
    """Watts (2002): a vanishing seed cascades globally iff vulnerable customers (those who
    adopt after one adopted tie) percolate, sum_k k (k-1) rho_k p_k / z > 1. With an
    absolute threshold m of k ties on a k-regular graph a customer is vulnerable iff m = 1,
    and then the condition reads k - 1 > 1: always for k = 6. For m >= 2 nobody is
    vulnerable: a seed of 20 customers in 20,000 stays where it is."""
    one = nw.simulate_network(CASCADE, regular, seed=1, dt=0.2, seed_share=0.001)
    two = nw.simulate_network(CASCADE.replace(contagion_threshold=2.0), regular, seed=1, dt=0.2, seed_share=0.001)
    assert one.final == 1.0
    assert two.final < 0.0015
    assert nw.cascade_size(0.001, 6, 1) == pytest.approx(1.0) and nw.cascade_size(0.001, 6, 2) < 0.0011


def test_finite_seed_cascades_match_gleeson_cahalane(regular):
    """Final cascade size against the tree-like closed form, on both sides of the critical
    seed (m = 3 of k = 6): below it the cascade stops near the seed, above it takes all."""
    k, m = 6, 3
    # The critical seed: where the least fixed point jumps to 1.
    lo, hi = 0.05, 0.3
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if nw.cascade_size(mid, k, m) < 0.99 else (lo, mid)
    critical = hi
    assert 0.15 < critical < 0.2
    p = CASCADE.replace(contagion_threshold=float(m))
    for seed_share in (0.08, 0.12, critical - 0.02):
        run = nw.simulate_network(p, regular, seed=2, dt=0.2, seed_share=seed_share)
        expected = nw.cascade_size(run.share[0], k, m)
        assert expected < 0.5
        assert run.final == pytest.approx(expected, abs=0.01)
    above = nw.simulate_network(p, regular, seed=2, dt=0.2, seed_share=critical + 0.02)
    assert above.final > 0.99


def test_a_seeded_run_reproduces_exactly():
    graph = nw.make_graph("watts_strogatz", 2000, 8, seed=5)
    assert (graph.adjacency != nw.make_graph("watts_strogatz", 2000, 8, seed=5).adjacency).nnz == 0
    a = nw.simulate_network(THRESHOLD, graph, seed=7)
    b = nw.simulate_network(THRESHOLD, graph, seed=7)
    c = nw.simulate_network(THRESHOLD, graph, seed=8)
    assert np.array_equal(a.share, b.share)
    assert not np.array_equal(a.share, c.share)


@pytest.mark.parametrize("family", ["random_regular", "erdos_renyi", "watts_strogatz", "configuration"])
def test_graph_families_are_simple_symmetric_and_about_k(family):
    g = nw.make_graph(family, 3000, 10, seed=1)
    a = g.adjacency
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0 and set(np.unique(a.data)) == {1.0}
    assert 8.5 < g.mean_degree < 11  # heavy tails lose some ties to merged multi-edges
    if family == "random_regular":
        assert set(g.degree) == {10}
    if family == "configuration":
        assert g.degree.max() > 5 * 10  # a heavy tail


def test_edge_list_is_read_and_a_bad_line_refused(tmp_path):
    good = tmp_path / "ties.txt"
    good.write_text("# a triangle and a tail\nann bob\nbob cy\n\ncy ann\nbob ann\ncy dee\n", encoding="utf-8")
    g = nw.read_edge_list(good)
    assert g.n == 4 and list(g.degree) == [2, 2, 3, 1]
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n2 3\n3 4 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt: line 3: .*'3 4 5'"):
        nw.read_edge_list(bad)
    loop = tmp_path / "loop.txt"
    loop.write_text("1 2\n# fine\n7 7\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"loop\.txt: line 3: .*own close tie"):
        nw.read_edge_list(loop)


def test_bad_input_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="`family` must be one of mixed, random_regular"):
        nw.make_graph("lattice", 100, 4)
    with pytest.raises(ValueError, match="even `k`"):
        nw.make_graph("watts_strogatz", 100, 5)
    with pytest.raises(ValueError, match="`contagion_threshold` must be a whole number"):
        nw.simulate_network(THRESHOLD.replace(contagion_threshold=2.5), nw.make_graph("mixed", 100, 4))
    with pytest.raises(ValueError, match="`dt` must be in"):
        nw.simulate_network(MIXED, nw.make_graph("mixed", 100, 4), dt=0.0)


def test_critical_mass_of_the_well_mixed_agents_is_the_mean_fields_unstable_root():
    # The threshold model of tests/test_economics_v2.py (k = 15, m = 3), with k = 10.
    p = Parameters(direct_adoption_rate=0.0, contagion="threshold", close_ties=10.0, contagion_threshold=3.0,
                   word_of_mouth_rate=1.0, churn_rate=0.1, trust_gain=0.0, trust_decay=0.0, initial_trust=1.0,
                   relational_gain=0.0, relational_decay=0.0, initial_relational_trust=0.0, network_value=0.0,
                   platform_quality=0.0, platform_price=1.0, price_policy="fixed", horizon=20.0)
    from model.core.special import tail

    root = brentq(lambda s: 0.5 * tail(s, 10.0, 3.0) * (1 - s) - 0.5 * 0.1 * s, 1e-3, 0.2)
    assert nw.mean_field_critical_mass(p) == pytest.approx(root, rel=1e-9)
    found = nw.critical_mass(p, nw.make_graph("mixed", 20000, 10), runs=1, high=0.2, tol=0.004)
    assert found.bracket[0] <= root + 0.006 and root - 0.006 <= found.bracket[1]


def test_the_network_command(baseline_path, tmp_path, capsys):
    import json

    from model.commands.cli import main

    assert main(["network", str(baseline_path), "--graph", "erdos_renyi", "--n", "3000", "--k", "12",
                 "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["graph"] == "erdos_renyi" and out["customers"] == 3000 and out["horizon"] == 40.0
    assert len(out["share"]) == len(out["mean_field"]) == len(out["t"]) == 9
    # Simple contagion on a random graph: the mean field holds (a share of 3,000 agents).
    assert out["largest_gap"] < 0.05
    edges = tmp_path / "ring.txt"
    edges.write_text("".join(f"{i} {(i + 1) % 50}\n" for i in range(50)), encoding="utf-8")
    assert main(["network", str(baseline_path), "--edges", str(edges), "--k", "2"]) == 0
    assert "edge_list:ring.txt, 50 customers, mean degree 2.00" in capsys.readouterr().out
    edges.write_text("0 1\n1 2 3\n", encoding="utf-8")
    assert main(["network", str(baseline_path), "--edges", str(edges)]) == 2
    assert "ring.txt: line 2" in capsys.readouterr().err


def test_no_critical_mass_with_direct_adoption():
    # Direct adoption h > 0: ds/dt > 0 at s = 0, the mean field has no unstable root, and the
    # agents take off from any seed.
    p = THRESHOLD.replace(direct_adoption_rate=0.05, horizon=10.0)
    assert nw.mean_field_critical_mass(p, k=10) is None
    found = nw.critical_mass(p, nw.make_graph("mixed", 5000, 10), runs=1, tol=0.01)
    assert found.share is None and found.bracket == (0.0, 0.01)

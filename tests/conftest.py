from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.toml"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def baseline_path() -> Path:
    return BASELINE


@pytest.fixture(scope="session")
def baseline():
    from model import load_scenario

    return load_scenario(BASELINE)


def v1_parameters(stored: dict):
    """The first version's parameters (tests/data/v1_reference.json) in the v2 model: every
    new mechanism neutral, demand per sector, the old committed payout as debt service and
    the trust network value rescaled for v2's normalisation (equal value at s = T = 1)."""
    from model import Parameters

    d = dict(stored)
    d["debt_service"] = d.pop("committed_payout")
    d["demand_form"] = "sector"
    if d["network_effect"] == "trust":
        d["network_value"] *= d["contacts_per_user"] / (d["contacts_per_user"] + d["close_ties"])
    return Parameters(**d)


@pytest.fixture(scope="session")
def v1_reference() -> dict:
    import json

    return json.loads((ROOT / "tests" / "data" / "v1_reference.json").read_text())


@pytest.fixture(scope="session")
def v1_baseline(v1_reference):
    """The first version's baseline, as a v2 parameter set (the closed-form special case)."""
    return v1_parameters(v1_reference["scenarios"]["baseline.toml"]["parameters"])

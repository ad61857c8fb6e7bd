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
    """The first version's parameters (tests/data/v1_reference.json) in the v2 model (see
    :func:`model.core.parameters.from_first_version`)."""
    from model.core.parameters import from_first_version

    return from_first_version(stored)


@pytest.fixture(scope="session")
def v1_reference() -> dict:
    import json

    return json.loads((ROOT / "tests" / "data" / "v1_reference.json").read_text())


@pytest.fixture(scope="session")
def v1_baseline(v1_reference):
    """The first version's baseline, as a v2 parameter set (the closed-form special case)."""
    return v1_parameters(v1_reference["scenarios"]["baseline.toml"]["parameters"])


def pytest_collection_modifyitems(items):
    # The paper's build (one module fixture, about 4 minutes) is the suite's longest piece:
    # collected first, pytest-xdist's --dist loadfile hands it to a worker at the start while
    # the other workers share the rest, instead of leaving it for the end.
    items.sort(key=lambda item: item.path.name != "test_paper.py")  # stable: order kept otherwise

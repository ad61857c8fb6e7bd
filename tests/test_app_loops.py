"""The dashboard's loop panel (AppTest): off by default; on, the stacked loop dominance
stacks to 1 and the causal diagram draws the loop the sentence names as dominant at the
chosen year."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.test_app import charts

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _values(v):
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float)
    return np.asarray([np.nan if x is None else x for x in v], dtype=float)




def test_loop_panel_shows_dominance_and_the_dominant_loop_on_the_diagram():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"sector": "newspapers", "view": "loops"})
    at.run()
    assert not at.exception, at.exception
    assert "loop_dominance" not in charts(at)
    at.toggle(key="loops").set_value(True).run()
    assert not at.exception, at.exception
    specs = charts(at)
    stacked = np.nansum([_values(d["y"]) for d in specs["loop_dominance"]["data"]], axis=0)
    defined = stacked > 0
    assert defined.mean() > 0.9
    np.testing.assert_allclose(stacked[defined], 1.0, rtol=1e-9)
    sentence = next(m.value for m in at.markdown if "the dominant loop is" in m.value)
    name = sentence.split("**")[1]
    lit = [d for d in specs["causal_loop_dominant"]["data"] if d.get("name", "").startswith("dominant")]
    assert [d["name"] for d in lit] == [f"dominant: {name}"]
    # Another year: the slider moves the highlight with it.
    at.slider(key="loops_year").set_value(at.slider(key="loops_year").min).run()
    assert not at.exception, at.exception

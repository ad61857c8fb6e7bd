"""Streamlit dashboard (minimal until the dashboard issue lands): run one scenario and plot it.

A thin layer: widgets -> Parameters -> cached simulate -> figure. Run with ``make app``.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from model import load_scenario, simulate
from model.tipping import break_even_loss

SCENARIOS = Path(__file__).with_name("scenarios")

st.set_page_config(page_title="Highland Park vs. trust platforms", layout="wide")
st.title("Highland Park vs. trust platforms")

files = sorted(SCENARIOS.glob("*.toml"))
if not files:
    st.error(f"No scenario files in {SCENARIOS}")
    st.stop()
choice = st.selectbox("Sector", files, format_func=lambda p: p.stem)
try:
    scenario = load_scenario(choice)
except ValueError as e:
    st.error(str(e))
    st.stop()


@st.cache_data(show_spinner=False)
def run(params):
    return simulate(params)


result = run(scenario.params)
if not result.success:
    st.error(f"The solver failed: {result.message}")
    st.stop()

fig = go.Figure()
fig.add_scatter(x=result.t, y=result["platform_share_of_gross"], name="platform share of gross")
fig.add_scatter(x=result.t, y=result["incumbent_gross_loss"], name="incumbent gross loss")
fig.add_hline(y=0.2, line_dash="dash", annotation_text="the essay's 20%")
fig.update_layout(xaxis_title="years", yaxis_title="share of gross", yaxis_range=[0, 1])
st.plotly_chart(fig, use_container_width=True)
if result.falls:
    st.write(f"The incumbent falls after {result.fall_time:.1f} years, at a platform share of gross of "
             f"{result.share_at_fall:.0%}.")
else:
    st.write("The incumbent survives the horizon.")
st.write(f"Static break-even loss: {break_even_loss(scenario.params):.0%} of gross.")

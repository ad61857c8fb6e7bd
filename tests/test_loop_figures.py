"""The loop figures: the causal-loop diagram's node labels do not overlap at the book's page
size, its main loops are labelled with their codes; the stacked loop dominance sums to 1."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from model.analysis.causal import causal_structure
from model.analysis.loops import loop_names, loop_scores
from model.evidence.scenarios import load_scenario
from model.publish import book, figures


@pytest.fixture(scope="module")
def structure():
    return causal_structure(load_scenario("scenarios/baseline.toml").params)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_causal_loop_node_labels_do_not_overlap_on_the_page(structure):
    fig = book.to_book(figures.causal_loop(structure), book.FIGURES["causal_loop"])
    boxes = figures.node_label_boxes(fig)
    assert len(boxes) == len(structure.nodes)
    clashes = [(a, b) for a, b in combinations(boxes, 2) if _overlap(boxes[a], boxes[b])]
    assert clashes == []
    # Every label lies on the page.
    w, h = fig.layout.width, fig.layout.height
    for name, (x0, y0, x1, y1) in boxes.items():
        assert x0 >= -fig.layout.margin.l and x1 <= w and y0 >= -fig.layout.margin.t and y1 <= h, name
    # The overlap test can fail: two labels at one place do overlap.
    assert _overlap(boxes["platform_share"], boxes["platform_share"])


def test_causal_loop_labels_the_main_loops_and_names_them(structure):
    fig = figures.causal_loop(structure)
    names = loop_names(structure.loops)
    codes = {a.text.replace("<b>", "").replace("</b>", "").lstrip("⟲") for a in fig.layout.annotations
             if a.text and a.text.startswith("<b>⟲")}
    assert "R1" in codes and "B1" in codes and "U1" in codes
    assert codes <= {n.split(" ")[0] for n in names}
    key = " ".join(a.text for a in fig.layout.annotations if a.text and "trust–transactions" in a.text)
    assert "R1 trust–transactions" in key
    # A highlighted loop is drawn over its links.
    i = names.index("R1 trust–transactions")
    lit = figures.causal_loop(structure, highlight=i)
    trace = next(t for t in lit.data if t.name.startswith("dominant"))
    assert len([x for x in trace.x if x is None]) == len(structure.loops[i].nodes)


def test_loop_dominance_stacks_to_one():
    params = load_scenario("scenarios/newspapers.toml").params
    scores = loop_scores(params, samples=120)
    fig = figures.loop_dominance(scores, top=4, ponr_time=5.0)
    stacked = np.sum([np.nan_to_num(np.asarray(t.y, dtype=float)) for t in fig.data], axis=0)
    ok = np.all(np.isfinite(scores.relative), axis=0)
    np.testing.assert_allclose(stacked[ok], 1.0, rtol=1e-9)
    assert [t.name for t in fig.data][-1] == "other loops" and len(fig.data) == 5


def test_paper_loop_dominance_table_has_a_row_per_sector_with_its_loops():
    from model.publish.paper import loop_dominance_markdown

    paths = ["scenarios/newspapers.toml", "scenarios/food.toml"]
    text = loop_dominance_markdown(paths, draws=12, seed=1)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| sector")]
    assert len(rows) == 2
    assert rows[0].startswith("| Newspapers") and "of 12 tip" in rows[0]
    # The newspaper file tips: its row names the loop dominant there, one of its loops.
    structure = causal_structure(load_scenario(paths[0]).params)
    names = loop_names(structure.loops)
    cell = rows[0].split(" | ")[1]
    assert any(cell.startswith(n) for n in names), cell
    assert "{{ fig.loop_dominance }}" in text  # rendered by the paper build with the figure's number

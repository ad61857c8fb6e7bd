"""The model in XMILE, the system-dynamics interchange standard, generated from the sympy model.

:func:`to_xmile` writes one sector's model as an XMILE 1.0 document (OASIS, 2015) that
other tools (Stella, Vensim's importer, PySD, simlin) can run:

* **stocks**: the seven states, each with its initial value (numbers from the scenario:
  the incumbent starts in its steady state) and its flows: the platform share with its
  inflow ``adoption`` and outflow ``churn`` (the model's own flows), every other stock
  with one net flow ``<stock>_net_flow`` (its right-hand side, written with the
  auxiliaries' names);
* **auxiliaries**: every named auxiliary of :func:`model.core.equations.build`, in its
  compact form (referencing states, parameters and earlier auxiliaries);
* **constants**: every parameter as a constant auxiliary with the scenario's value,
  its unit and meaning; the switches as the model's 0/1 indicators ``chi_*`` (and the
  internal ``acquisition``, 1), so that the switch branches stay in the equations as
  ``IF indicator > 0.5 THEN ... ELSE ...``;
* **sim specs**: from 0 to the scenario's horizon in years, Euler at ``dt``.

Expressions are printed by :class:`XmilePrinter` in XMILE's expression syntax, fully
parenthesised (XMILE readers disagree on the precedence of unary minus and ``^``):
``Piecewise`` as nested ``IF ... THEN ... ELSE``, ``exp`` as ``EXP``, ``Abs`` as ``ABS``,
``Max``/``Min`` as ``MAX``/``MIN``, ``tanh`` inlined as ``1 - 2/(EXP(2x) + 1)`` (XMILE's
standard library has no hyperbolic functions; this form cannot overflow to inf/inf),
the smooth positive part ``smooth_positive(x, w)`` inlined as
``(x + SQRT(x^2 + w^2))/2``.

Not exported (refused or left out, each said here):

* **threshold contagion**: the binomial tail (a regularised incomplete beta function) has
  no XMILE form; a scenario with ``contagion = "threshold"`` is refused, and with simple
  contagion the switch's threshold branch is dropped (the indicator is 0) so the word of
  mouth exposure is the share itself;
* **the fall**: XMILE has no stop event; the exported run goes on past the moment the
  incumbent's liquidity reaches zero (``simulate`` stops there under liquidation), so
  trajectories compare up to the fall; reorganisation's debt write-down after the first
  insolvency is not exported either.

References
----------
OASIS, *XML Interchange Language for System Dynamics (XMILE) Version 1.0*, Committee
Specification 01 (2015), http://docs.oasis-open.org/xmile/xmile/v1.0/
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import sympy as sp

from ..core.firms import aggregate
from ..core.equations import PARAM_NAMES, STATE_NAMES, build, initial_state, param_vector
from ..core.parameters import PARAMETER_SPECS, Parameters
from ..core.special import binomial_tail, smooth_positive

__all__ = ["XMILE_NAMESPACE", "XmilePrinter", "to_xmile", "write_xmile", "flows_of", "DEFAULT_DT"]

#: The XMILE 1.0 namespace (the standard's section 2).
XMILE_NAMESPACE = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"

#: Euler time step of the exported sim specs, years: small against the fastest time
#: constant of the scenarios (price and capacity adjustment, months).
DEFAULT_DT = 1 / 64

#: Stocks exported with the model's own inflow and outflow (the others get one net flow).
SPLIT_FLOWS = {"platform_share": ("adoption", "churn")}


def flows_of(stock: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(inflows, outflows) of ``stock`` in the export."""
    if stock in SPLIT_FLOWS:
        inflow, outflow = SPLIT_FLOWS[stock]
        return (inflow,), (outflow,)
    return (f"{stock}_net_flow",), ()


def _number(x) -> str:
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"XMILE has no literal for the non-finite number {value!r}")
    text = repr(value)
    return f"({text})" if value < 0 else text


class XmilePrinter:
    """Print a sympy expression of the model in XMILE's expression syntax (see the module
    docstring for each function's form). Symbols print as their names."""

    def doprint(self, expr) -> str:
        return self._print(sp.sympify(expr))

    def _print(self, e) -> str:  # noqa: C901 - one branch per kind of node
        p = self._print
        if isinstance(e, sp.Symbol):
            return e.name
        if e is sp.true:
            return "(1 = 1)"
        if e is sp.false:
            return "(1 = 0)"
        if isinstance(e, sp.Rational) and not isinstance(e, sp.Integer):
            return f"({int(e.p)}/{int(e.q)})"
        if e.is_Number:
            return _number(e)
        if isinstance(e, sp.Add):
            return "(" + " + ".join(p(a) for a in e.args) + ")"
        if isinstance(e, sp.Mul):
            num, den = [], []
            for a in e.args:
                if isinstance(a, sp.Pow) and a.exp.is_Number and a.exp < 0:
                    den.append(a.base if a.exp == -1 else sp.Pow(a.base, -a.exp, evaluate=False))
                else:
                    num.append(a)
            top = " * ".join(p(a) for a in num) if num else "1"
            if not den:
                return f"({top})"
            return f"({top} / ({' * '.join(p(a) for a in den)}))"
        if isinstance(e, sp.Pow):
            if e.exp == sp.Rational(1, 2):
                return f"SQRT({p(e.base)})"
            return f"({p(e.base)} ^ {p(e.exp)})"
        if isinstance(e, sp.exp):
            return f"EXP({p(e.args[0])})"
        if isinstance(e, sp.log):
            return f"LN({p(e.args[0])})"
        if isinstance(e, sp.Abs):
            return f"ABS({p(e.args[0])})"
        if isinstance(e, sp.tanh):
            return f"(1 - 2 / (EXP(2 * {p(e.args[0])}) + 1))"
        if isinstance(e, (sp.Max, sp.Min)):
            name = "MAX" if isinstance(e, sp.Max) else "MIN"
            out = p(e.args[0])
            for a in e.args[1:]:  # XMILE's MAX and MIN take two arguments
                out = f"{name}({out}, {p(a)})"
            return out
        if isinstance(e, smooth_positive):
            x, w = (p(a) for a in e.args)
            return f"(({x} + SQRT({x} ^ 2 + {w} ^ 2)) / 2)"
        if isinstance(e, binomial_tail):
            raise ValueError("threshold contagion (binomial_tail) has no XMILE form; "
                             "only contagion = 'simple' is exported")
        if isinstance(e, sp.Piecewise):
            *pieces, (last, last_cond) = e.args
            if last_cond != sp.true:
                raise ValueError(f"a Piecewise without a default branch has no XMILE form: {e}")
            out = p(last)
            for value, cond in reversed(pieces):
                out = f"(IF {p(cond)} THEN {p(value)} ELSE {out})"
            return out
        if isinstance(e, sp.core.relational.Relational):
            op = {"==": "=", "!=": "<>"}.get(e.rel_op, e.rel_op)
            return f"({p(e.lhs)} {op} {p(e.rhs)})"
        if isinstance(e, sp.And):
            return "(" + " AND ".join(p(a) for a in e.args) + ")"
        if isinstance(e, sp.Or):
            return "(" + " OR ".join(p(a) for a in e.args) + ")"
        if isinstance(e, sp.Not):
            return f"(NOT {p(e.args[0])})"
        raise ValueError(f"no XMILE form for {type(e).__name__} in {e}")


def _element(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def to_xmile(params: Parameters, *, name: str = "highland_park", dt: float = DEFAULT_DT) -> str:
    """The model under ``params`` as an XMILE document (a string; see the module docstring).

    Parameters
    ----------
    params : Parameters
        Constants and switches (a scenario's, with any changes).
    name : str
        The model's name in the header.
    dt : float
        Euler time step of the sim specs, years.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``dt`` is not a positive number below the horizon, or the scenario uses
        threshold contagion (no XMILE form).
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    horizon = float(params.horizon)
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)) or not (0 < float(dt) < horizon):
        raise ValueError(f"`dt` must be a positive number of years below the horizon {horizon:g}, got {dt!r}")
    if params.contagion == "threshold":
        raise ValueError("contagion = 'threshold' cannot be exported to XMILE (its binomial tail has no XMILE "
                         "form); allowed: contagion = 'simple'")
    m = build()
    values = dict(zip(PARAM_NAMES, param_vector(params)))
    # The threshold branch is dropped (indicator 0: the Piecewise reduces to its simple
    # branch), so no binomial tail is left to print.
    drop = {m.symbol("chi_threshold"): sp.Integer(0)}
    printer = XmilePrinter()

    ET.register_namespace("", XMILE_NAMESPACE)
    root = ET.Element(f"{{{XMILE_NAMESPACE}}}xmile", {"version": "1.0"})
    ns = f"{{{XMILE_NAMESPACE}}}"
    header = _element(root, ns + "header")
    _element(header, ns + "vendor", "Highland Park vs. trust platforms (model package)")
    _element(header, ns + "name", name)
    _element(header, ns + "product", "python -m model export-xmile", version="1.0", lang="en")
    specs = _element(root, ns + "sim_specs", method="Euler", time_units="years")
    _element(specs, ns + "start", "0")
    _element(specs, ns + "stop", repr(horizon))
    _element(specs, ns + "dt", repr(float(dt)))
    variables = _element(_element(root, ns + "model"), ns + "variables")

    y0 = initial_state(params)
    for i, state in enumerate(STATE_NAMES):
        stock = _element(variables, ns + "stock", name=state)
        _element(stock, ns + "eqn", _number(y0[i]))
        inflows, outflows = flows_of(state)
        for f in inflows:
            _element(stock, ns + "inflow", f)
        for f in outflows:
            _element(stock, ns + "outflow", f)
    split = {f for pair in SPLIT_FLOWS.values() for f in pair}
    for i, state in enumerate(STATE_NAMES):
        if state in SPLIT_FLOWS:
            continue
        flow = _element(variables, ns + "flow", name=f"{state}_net_flow")
        _element(flow, ns + "eqn", printer.doprint(sp.sympify(m.rhs_compact[i]).xreplace(drop)))
        _element(flow, ns + "non_negative", "false")  # a net flow goes both ways
    for aux_name, (_, expr) in m.auxiliaries.items():
        tag = "flow" if aux_name in split else "aux"
        el = _element(variables, ns + tag, name=aux_name)
        _element(el, ns + "eqn", printer.doprint(sp.sympify(expr).xreplace(drop)))
    for pname in PARAM_NAMES:
        el = _element(variables, ns + "aux", name=pname)
        _element(el, ns + "eqn", _number(values[pname]))
        spec = PARAMETER_SPECS.get(pname)
        if spec is not None:
            _element(el, ns + "doc", spec.meaning)
            if spec.unit and spec.unit != "1":
                _element(el, ns + "units", spec.unit)
        else:
            _element(el, ns + "doc", "model switch as a 0/1 indicator (see model.core.equations)")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_xmile(params: Parameters, path: str | Path, **kwargs) -> Path:
    """Write :func:`to_xmile` of ``params`` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(to_xmile(params, **kwargs), encoding="utf-8")
    return path

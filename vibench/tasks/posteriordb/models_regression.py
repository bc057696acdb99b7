"""Normal linear regressions of posteriordb: earnings, kidiq, mesquite, nes, kilpisjarvi, diamonds, blr.

Most are Gelman & Hill (2006) models: ``y ~ normal(X beta, sigma)`` with a
design ``X`` computed from the data as in the Stan ``transformed data`` block
(logs, centring, standardizing with the sample sd, dummies), an implicit flat
prior on ``vector[K] beta`` (``pm.Flat``) and on ``real<lower=0> sigma``
(``pm.HalfFlat``) unless the Stan model states one (``cauchy(0, 2.5)`` on
``sigma`` in kidiq: ``pm.HalfCauchy``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .translation import Translation, pymc

__all__ = ["TRANSLATIONS"]

Design = Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]]


def _sd(x: np.ndarray) -> float:
    """Stan's ``sd``: the sample standard deviation (denominator ``N - 1``)."""
    return float(np.std(x, ddof=1))


def _flat_regression(design: Design, sigma_prior: str = "flat") -> Callable[[dict[str, Any]], Any]:
    """``build(data)``: ``vector[K] beta`` flat, ``sigma`` flat or ``cauchy(0, 2.5)``, normal likelihood."""

    def build(data: dict[str, Any]):
        pm = pymc()
        y, X = design(data)
        with pm.Model() as model:
            beta = pm.Flat("beta", shape=X.shape[1])
            sigma = pm.HalfCauchy("sigma", beta=2.5) if sigma_prior == "cauchy" else pm.HalfFlat("sigma")
            pm.Normal("y", mu=pm.math.dot(X, beta), sigma=sigma, observed=y)
        return model

    return build


def _columns(*cols) -> np.ndarray:
    return np.column_stack([np.broadcast_to(np.asarray(c, dtype=float), np.shape(cols[-1])) for c in cols])


# -- earnings (Gelman & Hill ch. 4) ------------------------------------------------------------
def _earn(log: str | None, *terms: str) -> Design:
    def design(d):
        earn, height, male = (np.asarray(d[k], dtype=float) for k in ("earn", "height", "male"))
        y = {None: earn, "log": np.log(earn), "log10": np.log10(earn)}[log]
        z_height = (height - height.mean()) / _sd(height)
        available = {"height": height, "male": male, "inter": height * male, "log_height": np.log(height),
                     "z_height": z_height, "z_inter": z_height * male}
        return y, _columns(1.0, *(available[t] for t in terms))

    return design


# -- kidiq (Gelman & Hill ch. 3 and 4) ---------------------------------------------------------
def _kid(kind: str) -> Design:
    def design(d):
        y, hs, iq = (np.asarray(d[k], dtype=float) for k in ("kid_score", "mom_hs", "mom_iq"))
        if kind == "momhs":
            return y, _columns(1.0, hs)
        if kind == "momiq":
            return y, _columns(1.0, iq)
        if kind == "momhsiq":
            return y, _columns(1.0, hs, iq)
        if kind == "interaction":
            return y, _columns(1.0, hs, iq, hs * iq)
        if kind == "c":
            a, b = hs - hs.mean(), iq - iq.mean()
        elif kind == "c2":
            a, b = hs - 0.5, iq - 100.0
        elif kind == "z":
            a, b = (hs - hs.mean()) / (2 * _sd(hs)), (iq - iq.mean()) / (2 * _sd(iq))
        else:  # mom_work dummies
            work = np.asarray(d["mom_work"])
            return y, _columns(1.0, work == 2, work == 3, work == 4)
        return y, _columns(1.0, a, b, a * b)

    return design


# -- mesquite (Gelman & Hill ch. 4) ------------------------------------------------------------
def _mesquite(kind: str) -> Design:
    def design(d):
        v = {k: np.asarray(d[k], dtype=float) for k in ("weight", "diam1", "diam2", "canopy_height",
                                                       "total_height", "density", "group") if k in d}
        if kind == "raw":
            return v["weight"], _columns(1.0, v["diam1"], v["diam2"], v["canopy_height"], v["total_height"],
                                         v["density"], v["group"])
        y = np.log(v["weight"])
        if kind == "log":
            return y, _columns(1.0, *(np.log(v[k]) for k in ("diam1", "diam2", "canopy_height", "total_height",
                                                             "density")), v["group"])
        volume = np.log(v["diam1"] * v["diam2"] * v["canopy_height"])
        area = np.log(v["diam1"] * v["diam2"])
        shape = np.log(v["diam1"] / v["diam2"])
        if kind == "logvolume":
            return y, _columns(1.0, volume)
        if kind == "logva":
            return y, _columns(1.0, volume, area, v["group"])
        if kind == "logvash":
            return y, _columns(1.0, volume, area, shape, np.log(v["total_height"]), v["group"])
        return y, _columns(1.0, volume, area, shape, np.log(v["total_height"]), np.log(v["density"]), v["group"])

    return design


# -- nes (Gelman & Hill ch. 4), one model for eight survey years -----------------------------------
def _nes(d):
    age = np.asarray(d["age_discrete"])
    cols = [np.asarray(d[k], dtype=float) for k in ("real_ideo", "race_adj")]
    cols += [age == 2, age == 3, age == 4]
    cols += [np.asarray(d[k], dtype=float) for k in ("educ1", "gender", "income")]
    return np.asarray(d["partyid7"], dtype=float), _columns(1.0, *cols)


def _kilpisjarvi(d):
    """``alpha ~ normal(pmualpha, psalpha)``, ``beta ~ normal(pmubeta, psbeta)``, flat ``sigma``."""
    pm = pymc()
    with pm.Model() as model:
        alpha = pm.Normal("alpha", d["pmualpha"], d["psalpha"])
        beta = pm.Normal("beta", d["pmubeta"], d["psbeta"])
        sigma = pm.HalfFlat("sigma")
        pm.Normal("y", mu=alpha + beta * np.asarray(d["x"], dtype=float), sigma=sigma,
                  observed=np.asarray(d["y"], dtype=float))
    return model


def _diamonds(d):
    """brms: centred design without the intercept column, ``b ~ N(0, 1)``,
    ``Intercept ~ student_t(3, 8, 10)``, ``sigma ~ student_t(3, 0, 10)`` truncated at 0."""
    pm = pymc()
    X = np.asarray(d["X"], dtype=float)
    Xc = X[:, 1:] - X[:, 1:].mean(axis=0)
    with pm.Model() as model:
        b = pm.Normal("b", 0.0, 1.0, shape=Xc.shape[1])
        intercept = pm.StudentT("Intercept", nu=3, mu=8, sigma=10)
        sigma = pm.HalfStudentT("sigma", nu=3, sigma=10)
        pm.Normal("Y", mu=intercept + pm.math.dot(Xc, b), sigma=sigma, observed=np.asarray(d["Y"], dtype=float))
    return model


def _blr(d):
    """``beta ~ normal(0, 10)``, ``sigma ~ normal(0, 10)`` on ``sigma > 0``, ``y ~ normal(X beta, sigma)``."""
    pm = pymc()
    X = np.asarray(d["X"], dtype=float)
    with pm.Model() as model:
        beta = pm.Normal("beta", 0.0, 10.0, shape=X.shape[1])
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("y", mu=pm.math.dot(X, beta), sigma=sigma, observed=np.asarray(d["y"], dtype=float))
    return model


_FLAT = {
    "earn_height": _earn(None, "height"),
    "log10earn_height": _earn("log10", "height"),
    "logearn_height": _earn("log", "height"),
    "logearn_height_male": _earn("log", "height", "male"),
    "logearn_interaction": _earn("log", "height", "male", "inter"),
    "logearn_interaction_z": _earn("log", "z_height", "male", "z_inter"),
    "logearn_logheight_male": _earn("log", "log_height", "male"),
    "kidscore_interaction_c": _kid("c"),
    "kidscore_interaction_c2": _kid("c2"),
    "kidscore_interaction_z": _kid("z"),
    "kidscore_mom_work": _kid("mom_work"),
    "mesquite": _mesquite("raw"),
    "logmesquite": _mesquite("log"),
    "logmesquite_logvolume": _mesquite("logvolume"),
    "logmesquite_logva": _mesquite("logva"),
    "logmesquite_logvash": _mesquite("logvash"),
    "logmesquite_logvas": _mesquite("logvas"),
    "nes": _nes,
}
_CAUCHY = {
    "kidscore_momhs": _kid("momhs"),
    "kidscore_momiq": _kid("momiq"),
    "kidscore_momhsiq": _kid("momhsiq"),
    "kidscore_interaction": _kid("interaction"),
}

TRANSLATIONS = {
    **{name: Translation(name, _flat_regression(design)) for name, design in _FLAT.items()},
    **{name: Translation(name, _flat_regression(design, "cauchy")) for name, design in _CAUCHY.items()},
    "kilpisjarvi": Translation("kilpisjarvi", _kilpisjarvi),
    "diamonds": Translation("diamonds", _diamonds),
    "blr": Translation("blr", _blr),
}

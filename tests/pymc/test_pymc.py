"""symupdates inside PyMC: ADVI on a conjugate model reaches the closed-form posterior.

Run on the pymc5 and pymc6 legs of the support matrix (``make test-pymc5``,
``make test-pymc6``), where PyMC is installed beside symupdates with PyMC's own PyTensor.

The model: three group means with a Normal(0, 10) prior and unit-variance observations,
``y_i ~ Normal(mu[g_i], 1)``. The posterior of each mean is Normal with precision
``1/100 + n_g`` and mean ``sum(y_g) / precision``; mean-field ADVI's family holds it
exactly, so a converged fit has these means and standard deviations. The Monte Carlo
gradient is noisy, so the rules run with a decaying learning rate (a schedule): the last
iterate then settles on the optimum instead of wandering around it.
"""

from __future__ import annotations

import functools

import numpy as np
import pytensor
import pytest

import symupdates as su
from symupdates import schedules
from tests.rules import RULES

pm = pytest.importorskip("pymc", reason="PyMC is installed on the pymc5 and pymc6 legs (make test-pymc5, make test-pymc6)")

GROUPS = np.repeat(np.arange(3), 40)
Y = np.random.default_rng(0).normal(np.array([1.7, -0.5, 3.0])[GROUPS], 1.0)
PRECISION = 1 / 100 + np.bincount(GROUPS)
EXACT_MEAN = np.bincount(GROUPS, weights=Y) / PRECISION
EXACT_SD = PRECISION**-0.5  # about 0.158


def model():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 10.0, shape=3)
        pm.Normal("y", mu[GROUPS], 1.0, observed=Y)
    return m


def fit(obj_optimizer, n, **kwargs):
    """Mean-field ADVI; returns the fitted means and standard deviations."""
    with model():
        approx = pm.fit(n=n, method="advi", obj_optimizer=obj_optimizer, random_seed=1, progressbar=False, **kwargs)
    return approx.mean.eval(), approx.std.eval()


def decaying(rate):
    return schedules.exponential_decay(rate, 0.999)  # rate * 0.999**k: 2% of it after 4000 steps


CONVERGING = {
    "adam": su.adam(learning_rate=decaying(0.05)),
    "adamw-clipped": su.adamw(learning_rate=decaying(0.05), weight_decay=0.0, clip_norm=20.0),
    "rmsprop": su.rmsprop(learning_rate=decaying(0.02)),
    "momentum-clipped": su.momentum(learning_rate=decaying(0.005), clip_norm=10.0),
    "nesterov": su.nesterov_momentum(learning_rate=decaying(0.005)),
    "adagrad": su.adagrad(learning_rate=decaying(0.5)),
}


@pytest.mark.parametrize("name", list(CONVERGING))
def test_advi_with_symupdates_reaches_the_exact_posterior(name):
    mean, sd = fit(CONVERGING[name], 4000, obj_n_mc=4)
    np.testing.assert_allclose(mean, EXACT_MEAN, atol=0.02)  # an eighth of a posterior sd
    np.testing.assert_allclose(sd, EXACT_SD, rtol=0.05)


def test_a_constant_learning_rate_leaves_the_last_iterate_noisy():
    """Why the rules above decay their rate: the same Adam at a constant rate is further off."""
    constant, _ = fit(su.adam(learning_rate=0.05), 4000, obj_n_mc=4)
    decayed, _ = fit(CONVERGING["adam"], 4000, obj_n_mc=4)
    assert np.abs(constant - EXACT_MEAN).max() > 2 * np.abs(decayed - EXACT_MEAN).max()


#: ADVI's parameters are vectors: every rule but those that take matrices only (Muon).
VECTOR_RULES = [name for name, case in RULES.items() if 1 in case.ranks]


@pytest.mark.parametrize("rule", VECTOR_RULES)
def test_every_rule_is_an_obj_optimizer(rule):
    """Called with hyperparameters only, or wrapped in functools.partial, every rule that
    takes vectors is what ``pm.fit(obj_optimizer=...)`` takes: ``(grads, params) -> updates``.
    The fit moves."""
    fn = getattr(su, rule)
    lr = {"adadelta": 1.0, "adagrad": 0.1}.get(rule, 0.01)
    for optimizer in (fn(learning_rate=lr), functools.partial(fn, learning_rate=lr)):
        mean, _ = fit(optimizer, 20, compile_kwargs={"mode": "FAST_COMPILE"})
        assert np.all(np.isfinite(mean)) and np.abs(mean).max() > 0


def test_a_rule_of_matrices_says_why_it_cannot_fit_advi():
    """Muon takes matrices; ADVI's means and spreads are vectors: a clear error, naming one."""
    assert set(RULES) - set(VECTOR_RULES) == {"muon"}
    with pytest.raises(ValueError, match=r"muon takes matrices \(2-d parameters\) only.*'mu' has shape \(3,\)"):
        fit(su.muon(learning_rate=0.01), 20, compile_kwargs={"mode": "FAST_COMPILE"})


def test_su_adam_follows_pm_adam():
    """Same seed, same draws: symupdates' Adam and PyMC's give the same fit. They differ only
    in where epsilon goes (torch's ε after the bias correction, Lasagne's before), which at
    ε = 1e-8 is far below these gradients."""
    ours = fit(su.adam(learning_rate=0.01), 300)
    theirs = fit(pm.adam(learning_rate=0.01), 300)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_total_grad_norm_constraint_and_clip_norm_are_the_same_clip():
    """PyMC's ``total_grad_norm_constraint=c`` rescales the gradients by c / (norm + 1e-7)
    when norm > c before the optimizer sees them; our ``clip_norm=c`` by min(1, c / (norm +
    1e-6)) inside it. Either one gives the same fit (up to the epsilons); with both, PyMC's
    acts first and ours then finds the norm at c and leaves it."""
    c = 5.0
    pymcs = fit(su.sgd(learning_rate=0.01), 300, total_grad_norm_constraint=c)
    ours = fit(su.sgd(learning_rate=0.01, clip_norm=c), 300)
    both = fit(su.sgd(learning_rate=0.01, clip_norm=c), 300, total_grad_norm_constraint=c)
    unclipped = fit(su.sgd(learning_rate=0.01), 300)
    for a, b, d in zip(pymcs, ours, both, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
        np.testing.assert_allclose(d, b, rtol=1e-5)
    assert np.abs(unclipped[0] - ours[0]).max() > 1e-2  # the clip acted


def test_pymcs_pytensor_requirement_holds():
    """The PyTensor symupdates runs on here is one PyMC accepts (the leg installs PyMC first,
    then symupdates, and checks that the second install changed no PyTensor)."""
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement

    (spec,) = [Requirement(r) for r in requires("pymc") if Requirement(r).name == "pytensor"]
    assert version("pytensor") in spec.specifier, (version("pytensor"), str(spec))
    assert pytensor.__version__.split("+")[0] == version("pytensor")

"""Hyper-parameter search spaces and samplers (Optuna's random and TPE). Django-free.

A space maps config fields to ranges: ``{"l2": {"low": 10, "high": 5000, "log": true}}``
(floats), ``{"neighbours": {"low": 10, "high": 500, "type": "int"}}`` or
``{"variant": {"choices": ["gmf", "mlp", "neumf"]}}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optuna

from recommender.algorithms import get_algorithm
from recommender.algorithms.base import ConfigError

SAMPLERS = ("random", "tpe")

# Ranges around each model's defaults, wide enough to matter, narrow enough for a short budget.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "ease": {"l2": {"low": 50, "high": 5000, "log": True}},
    "itemknn": {
        "neighbours": {"low": 20, "high": 400, "type": "int", "log": True},
        "alpha": {"low": 0.4, "high": 0.9},
    },
    "bpr": {
        "factors": {"low": 32, "high": 256, "type": "int", "log": True},
        "lr": {"low": 1e-3, "high": 5e-2, "log": True},
        "reg": {"low": 1e-6, "high": 1e-2, "log": True},
    },
    "ncf": {
        "factors": {"low": 16, "high": 128, "type": "int", "log": True},
        "lr": {"low": 5e-4, "high": 1e-2, "log": True},
    },
}


def default_space(algorithm: str) -> dict[str, dict[str, Any]]:
    return DEFAULT_SPACES.get(algorithm, {})


def validate_space(algorithm: str, space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check a space against the algorithm's config fields; ConfigError names the bad entry."""
    fields = {f.name: f for f in dataclasses.fields(get_algorithm(algorithm).config_class)}
    if not isinstance(space, dict) or not space:
        raise ConfigError("space", "give at least one hyper-parameter range")
    for name, spec in space.items():
        if name not in fields:
            raise ConfigError("space", f"{name!r} is not a hyper-parameter of {algorithm}")
        if not isinstance(spec, dict):
            raise ConfigError("space", f"{name}: expected an object with low/high or choices")
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                raise ConfigError("space", f"{name}: choices must be a non-empty list")
            continue
        low, high = spec.get("low"), spec.get("high")
        if not isinstance(low, int | float) or not isinstance(high, int | float) or low >= high:
            raise ConfigError("space", f"{name}: needs numbers low < high")
        if spec.get("log") and low <= 0:
            raise ConfigError("space", f"{name}: a log range needs low > 0")
    return space


class Sampler:
    """Ask for the next configuration, tell how it scored (higher is better)."""

    def __init__(self, space: dict[str, dict[str, Any]], method: str, seed: int) -> None:
        if method not in SAMPLERS:
            raise ConfigError("sampler", f"one of {', '.join(SAMPLERS)}")
        sampler = (
            optuna.samplers.RandomSampler(seed=seed)
            if method == "random"
            else optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.space = space
        self.trial: optuna.Trial | None = None

    def ask(self) -> dict[str, Any]:
        self.trial = self.study.ask()
        return {name: _suggest(self.trial, name, spec) for name, spec in self.space.items()}

    def tell(self, value: float | None) -> None:
        assert self.trial is not None, "ask before telling"
        state = (
            optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
        )
        self.study.tell(self.trial, value, state=state)

    def replay(self, config: dict[str, Any], value: float | None) -> None:
        """Teach the sampler a finished trial (when a search resumes on another worker)."""
        distributions = {name: _distribution(spec) for name, spec in self.space.items()}
        params = {name: config[name] for name in self.space if name in config}
        if value is not None and len(params) == len(distributions):
            self.study.add_trial(
                optuna.trial.create_trial(params=params, distributions=distributions, value=value)
            )


def _suggest(trial: optuna.Trial, name: str, spec: dict[str, Any]) -> Any:
    if "choices" in spec:
        return trial.suggest_categorical(name, spec["choices"])
    if spec.get("type") == "int":
        return trial.suggest_int(
            name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log"))
        )
    return trial.suggest_float(
        name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
    )


def _distribution(spec: dict[str, Any]) -> optuna.distributions.BaseDistribution:
    if "choices" in spec:
        return optuna.distributions.CategoricalDistribution(spec["choices"])
    if spec.get("type") == "int":
        return optuna.distributions.IntDistribution(
            int(spec["low"]), int(spec["high"]), log=bool(spec.get("log"))
        )
    return optuna.distributions.FloatDistribution(
        float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
    )

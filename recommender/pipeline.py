"""From a ratings frame to a fitted, evaluated model: shared by training runs and ``evaluate``.

Django-free. The input frame has ``user_id, item_id, event_type, value, timestamp`` (ids as
strings, timestamp in Unix seconds); :class:`Signal` turns events into training signal, the
protocol splits it (``shared/EVALUATION.md``), the model is fitted on the training part and
scored on the held-out part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.algorithms import get_algorithm
from recommender.algorithms.base import (
    ConfigError,
    EpochCallback,
    Recommender,
    TrainOptions,
    ValidationData,
)
from recommender.data import Interactions, Vocabulary, interactions_from_frame, user_batch
from recommender.evaluation import coldstart
from recommender.evaluation.protocols import (
    evaluate_ranking,
    evaluate_rating,
    per_user_ranking,
    rating_errors,
)
from recommender.evaluation.significance import per_user_errors
from recommender.evaluation.splits import kfold_split, leave_last_out, stratified_split
from recommender.rerank import Diversified, genre_features

logger = logging.getLogger(__name__)

PROTOCOLS = {
    "p1": "random per-user 75/25 split, top-k ranking",
    "p2": "rating prediction, 5-fold random split (mean RMSE/MAE)",
    "p3": "temporal leave-last-out, next-item ranking",
    "p1-inner": "P1 on an inner 75/25 split of P1's train part (for tuning; never sees P1 test)",
    "new-items": "cold-start items: 10% of items held out, ranked from their features only",
    "new-raters": "cold-start raters: 10% of raters held out, 0/1/3/5 interactions revealed",
}


@dataclass(frozen=True)
class Signal:
    """How interactions become training signal.

    Attributes:
        event_weights: event types that count and their weight, e.g. {"rating": 1, "purchase": 3}.
        positive_threshold: for implicit-feedback models, a rating counts only if >= this
            (None: every rating counts). Rating-prediction models always see the raw values.
        rating_values: for implicit-feedback models, a rating's value is the rating times its
            event weight instead of the weight alone; models that binarise are unaffected.
            Models that read interaction strength (``Recommender.reads_rating_values``, e.g.
            ``ease_mix``) get rating values whatever this says.
    """

    event_weights: dict[str, float] = field(default_factory=lambda: {"rating": 1.0})
    positive_threshold: float | None = None
    rating_values: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Signal:
        values = dict(values or {})
        weights = values.pop("event_weights", None) or {"rating": 1.0}
        threshold = values.pop("positive_threshold", None)
        rating_values = values.pop("rating_values", False)
        if values:
            raise ConfigError(next(iter(values)), "unknown signal option")
        if not isinstance(weights, dict) or not weights:
            raise ConfigError("event_weights", "an object of event type → weight")
        for event, weight in weights.items():
            if not isinstance(weight, int | float) or weight <= 0:
                raise ConfigError("event_weights", f"weight of {event!r} must be a positive number")
        if threshold is not None and not isinstance(threshold, int | float):
            raise ConfigError("positive_threshold", "a number or null")
        if not isinstance(rating_values, bool):
            raise ConfigError("rating_values", "true or false")
        return cls({str(k): float(v) for k, v in weights.items()}, threshold, rating_values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def apply(
        self, frame: pd.DataFrame, explicit: bool, rating_values: bool = False
    ) -> pd.DataFrame:
        """Rows that count, with ``value`` = rating (explicit models) or weight (implicit);
        ``rating_values`` (a model that reads interaction strength) acts as the option does."""
        events = frame["event_type"] if "event_type" in frame else pd.Series("rating", frame.index)
        # Not in-place: with pandas copy-on-write, to_numpy() can hand back a read-only view.
        keep = events.isin(list(self.event_weights)).to_numpy()
        if explicit:
            keep = keep & (events == "rating").to_numpy()
        elif self.positive_threshold is not None:
            rejected = (events == "rating") & (frame["value"] < self.positive_threshold)
            keep = keep & ~rejected.to_numpy()
        out = frame.loc[keep, ["user_id", "item_id", "value", "timestamp"]].copy()
        if not explicit:
            weights = events[keep].map(self.event_weights).to_numpy(dtype=np.float32)
            if self.rating_values or rating_values:
                ratings = out["value"].to_numpy(np.float32)
                rated = (events[keep] == "rating").to_numpy() & np.isfinite(ratings)
                weights = np.where(rated, weights * ratings, weights)
            out["value"] = weights
            # Several event types on one pair add up to one weighted interaction.
            out = out.groupby(["user_id", "item_id"], sort=False, as_index=False).agg(
                value=("value", "sum"), timestamp=("timestamp", "max")
            )
        return out.reset_index(drop=True)


@dataclass(frozen=True)
class SideData:
    """What is known about items and raters besides their interactions (all optional).

    Attributes:
        content: item content indexed by item id (``title``, ``genres`` list, ``description``),
            None when only genre flags (or nothing) were given.
        raters: rater attributes indexed by rater id (e.g. age, gender, occupation).
        genre_flags: one-hot genres indexed by item id, for diversity figures and re-ranking.
    """

    content: pd.DataFrame | None = None
    raters: pd.DataFrame | None = None
    genre_flags: pd.DataFrame | None = None

    @classmethod
    def of(cls, items: pd.DataFrame | None, raters: pd.DataFrame | None = None) -> SideData:
        """From an item frame that is either content (a ``genres`` list column) or genre flags."""
        if items is None or not _is_content(items):
            return cls(None, raters, items)
        flags = genre_features(items["genres"]) if "genres" in items else None
        return cls(items, raters, flags if flags is not None and flags.shape[1] else None)

    def attach(self, data: Interactions) -> Interactions:
        """``data`` with the item content and rater attributes that models may learn from."""
        return replace(data, item_features=self.content, user_features=self.raters)


def _is_content(items: pd.DataFrame) -> bool:
    if "title" in items or "description" in items:
        return True
    genres = items["genres"] if "genres" in items else pd.Series(dtype=object)
    return bool(genres.map(lambda v: isinstance(v, list | tuple | np.ndarray)).any())


@dataclass
class ProtocolResult:
    model: Recommender
    train: Interactions
    metrics: dict[str, float]
    fit_seconds: float
    evaluate_seconds: float
    # One row per test user, kept for paired comparisons: P1/P3 protocols.per_user_ranking,
    # P2 significance.per_user_errors (RMSE and MAE over the user's ratings in every fold).
    per_user: pd.DataFrame | None = None
    # The epoch validation chose (early stopping or the best-scoring epoch), when the fit had
    # validation data: P3 always, P1 with a validation share. None otherwise.
    best_epoch: int | None = None


def dataset_fingerprint(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts and a content hash, so a run records exactly which data it saw."""
    ordered = frame.sort_values(["user_id", "item_id"], kind="stable")
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(ordered[["user_id", "item_id", "value"]], index=False).to_numpy()
    ).hexdigest()
    return {
        "interactions": len(frame),
        "raters": int(frame["user_id"].nunique()),
        "items": int(frame["item_id"].nunique()),
        "sha256": digest[:16],
    }


def build_model(algorithm: str, config: dict[str, Any] | None) -> Recommender:
    """A fresh model with a validated config (ConfigError names a bad field)."""
    model_class = get_algorithm(algorithm)
    return model_class(model_class.config_class.from_dict(config))


def run_protocol(
    frame: pd.DataFrame,
    algorithm: str,
    config: dict[str, Any] | None = None,
    protocol: str = "p1",
    options: TrainOptions | None = None,
    on_epoch: EpochCallback | None = None,
    signal: Signal | None = None,
    k: int = 10,
    item_features: Any = None,
    diversity: float = 0.0,
    user_features: pd.DataFrame | None = None,
) -> ProtocolResult:
    """Split ``frame`` by ``protocol``, fit a model on the training part and measure it.

    ``item_features`` is the item content frame (indexed by item id: ``title``, ``genres``
    list, optional ``description``; a frame of genre flags is accepted too) and
    ``user_features`` the rater attributes (indexed by rater id). Every protocol hands both to
    the model with its training data (content and attribute models learn from them); genres
    also give the intra-list diversity figures and, with ``diversity`` > 0, the MMR re-ranking
    that serving applies, so the metrics show its effect. "new-items" requires item content.

    ``options.validation_share`` > 0 makes P1 (and ``p1-inner``) hold out that share of each
    user's training rows as validation for models that train in epochs, which gives them
    per-epoch validation metrics and early stopping; the result's ``best_epoch`` is the epoch
    count validation chose (also under P3), for :func:`serving_options`.
    """
    options = options or TrainOptions()
    signal = signal or Signal()
    model = build_model(algorithm, config)
    data = signal.apply(
        frame, explicit=model.predicts_ratings, rating_values=model.reads_rating_values
    )
    side = SideData.of(item_features, user_features)
    if diversity > 0 and side.genre_flags is not None and protocol in ("p1", "p3"):
        model = Diversified(model, side.genre_flags, diversity)  # type: ignore[assignment]
    runner = _RUNNERS.get(protocol)
    if runner is None:
        raise ConfigError(
            "protocol", f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
        )
    result = runner(model, data, options, on_epoch, k, side)
    result.best_epoch = chosen_epochs(result.model)
    return result


def chosen_epochs(model: Recommender) -> int | None:
    """The best epoch of ``model``'s last fit when validation chose it, else None."""
    trained = getattr(model, "train_result", None)  # through a Diversified wrapper too
    if trained is None or not trained.validated or trained.best_epoch < 1:
        return None
    return int(trained.best_epoch)


def serving_options(options: TrainOptions, best_epoch: int | None) -> TrainOptions:
    """Options for :func:`fit_for_serving` after an evaluation fit that chose ``best_epoch``.

    The serving fit has no validation data to stop on, so it trains the epoch count that
    validation chose in the evaluation fit, as is: it is scaled by nothing, although the
    serving fit sees more rows (and so takes more steps per epoch); no rule for scaling epochs
    with data size holds across models.
    """
    options = dataclasses.replace(options, validation=None, validation_share=0.0)
    if best_epoch is None:
        return options
    return dataclasses.replace(options, max_epochs=best_epoch)


def _timed_fit(
    model: Recommender, train: Interactions, options: TrainOptions, on_epoch: EpochCallback | None
) -> float:
    started = time.perf_counter()
    model.fit(train, options, on_epoch)
    return time.perf_counter() - started


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def _run_p1(
    model: Recommender,
    data: pd.DataFrame,
    options: TrainOptions,
    on_epoch: EpochCallback | None,
    k: int,
    side: SideData,
) -> ProtocolResult:
    split = stratified_split(data, ratio=0.75, seed=options.seed)
    share = options.validation_share
    if share <= 0 or not model.trains_in_epochs:  # closed-form models keep every train row
        train = side.attach(interactions_from_frame(split.train))
        fit_seconds = _timed_fit(model, train, options, on_epoch)
        return _measure_ranking(model, train, train, split.test, k, side, fit_seconds)
    # Validation rows come from the train part only (of whatever ``data`` is: under p1-inner
    # that is P1's train part, so P1's test rows stay unseen). The model is fitted on the
    # rest and measured with the whole train part as history: validation rows are known
    # interactions then, excluded from the candidates like any other.
    inner = stratified_split(split.train, ratio=1.0 - share, seed=options.seed)
    train = side.attach(interactions_from_frame(inner.train))
    history = interactions_from_frame(split.train, users=train.users, items=train.items)
    fit_options = dataclasses.replace(options, validation=_validation(train, inner.test))
    fit_seconds = _timed_fit(model, train, fit_options, on_epoch)
    return _measure_ranking(model, train, history, split.test, k, side, fit_seconds)


def _measure_ranking(
    model: Recommender,
    train: Interactions,
    history: Interactions,
    test: pd.DataFrame,
    k: int,
    side: SideData,
    fit_seconds: float,
) -> ProtocolResult:
    """Aggregate figures plus one row per test user (for paired comparisons between runs)."""
    metrics, seconds = _timed(
        lambda: evaluate_ranking(model, history, test, k=k, item_features=side.genre_flags)
    )
    per_user, per_user_seconds = _timed(
        lambda: per_user_ranking(model, history, test, k=k, with_auc=False)
    )
    return ProtocolResult(model, train, metrics, fit_seconds, seconds + per_user_seconds, per_user)


def _run_p1_inner(
    model: Recommender,
    data: pd.DataFrame,
    options: TrainOptions,
    on_epoch: EpochCallback | None,
    k: int,
    side: SideData,
) -> ProtocolResult:
    """Hyper-parameter search scores trials here, so P1's test rows never choose a setting."""
    outer = stratified_split(data, ratio=0.75, seed=options.seed)
    return _run_p1(model, outer.train, options, on_epoch, k, side)


def _run_p2(
    model: Recommender,
    data: pd.DataFrame,
    options: TrainOptions,
    on_epoch: EpochCallback | None,
    k: int,
    side: SideData,
) -> ProtocolResult:
    if not model.predicts_ratings:
        raise ConfigError("protocol", f"{model.name} does not predict ratings; use p1 or p3")
    folds = kfold_split(data, k=5, seed=options.seed)
    results, errors, fit_total, eval_total = [], [], 0.0, 0.0
    for number, fold in enumerate(folds, start=1):
        fold_model = model if number == 1 else build_model(model.name, model.config.to_dict())
        train = side.attach(interactions_from_frame(fold.train))
        fit_total += _timed_fit(fold_model, train, options, on_epoch if number == 1 else None)
        values, seconds = _timed(
            lambda m=fold_model, t=train, f=fold: evaluate_rating(m, t, f.test)
        )
        results.append(values)
        errors.append(rating_errors(fold_model, train, fold.test))  # for paired tests
        eval_total += seconds
        if number == 1:
            first_train = train
    metrics = {key: float(np.mean([r[key] for r in results])) for key in results[0]}
    per_user = per_user_errors(pd.concat(errors, ignore_index=True))
    return ProtocolResult(model, first_train, metrics, fit_total, eval_total, per_user)


def _run_p3(
    model: Recommender,
    data: pd.DataFrame,
    options: TrainOptions,
    on_epoch: EpochCallback | None,
    k: int,
    side: SideData,
) -> ProtocolResult:
    split = leave_last_out(data)
    seen = pd.concat([split.train, split.validation])
    train = side.attach(interactions_from_frame(split.train))
    history = interactions_from_frame(seen, users=train.users, items=train.items)
    fit_options = dataclasses.replace(options, validation=_validation(train, split.validation))
    fit_seconds = _timed_fit(model, train, fit_options, on_epoch)
    return _measure_ranking(model, train, history, split.test, k, side, fit_seconds)


def _validation(train: Interactions, validation: pd.DataFrame) -> ValidationData | None:
    """Validation rows as one target array per user, users in order of first appearance
    (P3 has one row per user, P1's carve-out several); rows the model cannot know drop."""
    user_idx = train.users.indices(validation["user_id"])
    item_idx = train.items.indices(validation["item_id"])
    keep = (user_idx >= 0) & (item_idx >= 0)
    if not keep.any():
        return None
    user_idx, item_idx = user_idx[keep], item_idx[keep]
    codes, users = pd.factorize(user_idx)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.diff(codes[order])) + 1
    targets = np.split(item_idx[order], starts)
    return ValidationData(batch=user_batch(train, np.asarray(users)), targets=targets)


def fit_for_serving(
    frame: pd.DataFrame,
    algorithm: str,
    config: dict[str, Any] | None,
    options: TrainOptions,
    signal: Signal | None = None,
    on_epoch: EpochCallback | None = None,
    item_features: pd.DataFrame | None = None,
    user_features: pd.DataFrame | None = None,
) -> tuple[Recommender, Interactions]:
    """Fit on every interaction that counts: the model that gets served.

    For a model that reads item content, the item vocabulary covers every item of
    ``item_features``, so items nobody has interacted with yet get a vector from their content
    (serving can then recommend them). Other models know only items with interactions.
    """
    model = build_model(algorithm, config)
    data = (signal or Signal()).apply(
        frame, explicit=model.predicts_ratings, rating_values=model.reads_rating_values
    )
    side = SideData.of(item_features, user_features)
    catalogue = None
    if model.uses_item_content and side.content is not None:
        catalogue = Vocabulary.from_values([*data["item_id"], *side.content.index.astype(str)])
    train = side.attach(interactions_from_frame(data, items=catalogue))
    model.fit(train, options, on_epoch)
    return model, train


def _run_new_items(
    model: Recommender,
    data: pd.DataFrame,
    options: TrainOptions,
    on_epoch: EpochCallback | None,
    k: int,
    side: SideData,
) -> ProtocolResult:
    """EVALUATION.md new items: the held-out items are the only candidates."""
    if side.content is None:
        raise ConfigError(
            "item_features", "the new-items protocol needs item content (titles and genres)"
        )
    split = coldstart.new_items_split(data, side.content, seed=options.seed)
    train = replace(coldstart.new_items_interactions(split), user_features=side.raters)
    fit_seconds = _timed_fit(model, train, options, on_epoch)
    metrics, seconds = _timed(
        lambda: coldstart.evaluate_new_items(model, train, split, k=k, seed=options.seed)
    )
    return ProtocolResult(model, train, metrics, fit_seconds, seconds)


def _run_new_raters(
    model: Recommender,
    data: pd.DataFrame,
    options: TrainOptions,
    on_epoch: EpochCallback | None,
    k: int,
    side: SideData,
) -> ProtocolResult:
    """EVALUATION.md new raters; figures are prefixed ``reveal<k>_`` per revealed count."""
    split = coldstart.new_raters_split(data, seed=options.seed)
    train = side.attach(interactions_from_frame(split.train))
    fit_seconds = _timed_fit(model, train, options, on_epoch)
    results, seconds = _timed(
        lambda: coldstart.evaluate_new_raters(
            model, train, split, side.raters, k=k, seed=options.seed
        )
    )
    metrics = {
        f"reveal{count}_{name}": value
        for count, figures in results.items()
        for name, value in figures.items()
    }
    return ProtocolResult(model, train, metrics, fit_seconds, seconds)


_RUNNERS: dict[str, Callable[..., ProtocolResult]] = {
    "p1": _run_p1,
    "p2": _run_p2,
    "p3": _run_p3,
    "p1-inner": _run_p1_inner,
    "new-items": _run_new_items,
    "new-raters": _run_new_raters,
}

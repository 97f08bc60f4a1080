"""The one small interface every algorithm implements (DESIGN.md, convention 7)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from recommender.data import Interactions, UserBatch

if TYPE_CHECKING:
    from recommender.training import TrainResult

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with (epoch number from 1, metrics such as ``train_loss``).
It may raise (e.g. ``TrainingCancelled``) to stop training."""


class ConfigError(ValueError):
    """A hyper-parameter is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AlgorithmConfig:
    """Base for frozen config dataclasses; subclasses add documented fields."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first bad value. Override to add checks."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> AlgorithmConfig:
        """Build and validate a config; unknown keys and wrong types raise ConfigError."""
        values = dict(values or {})
        known = {f.name: f for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ConfigError(key, f"unknown hyper-parameter (known: {', '.join(known)})")
        for key, value in list(values.items()):
            values[key] = _coerce(key, value, known[key].type)
        config = cls(**values)
        config.validate()
        return config


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if kind == "int" and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float" and not isinstance(value, bool):
            return float(value)
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "str" and isinstance(value, str):
            return value
        if kind in {"int", "float", "bool", "str"}:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(key, f"expected {kind}, got {value!r}") from None
    return value


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ConfigError unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")


@dataclass(frozen=True)
class TrainOptions:
    """How to train, independent of the algorithm.

    Attributes:
        device: torch device name ("cpu", "cuda").
        seed: feeds numpy and torch generators.
        dry_run: one tiny epoch over a few batches (tests).
        max_epochs: caps the configured epochs when set.
        threads: torch intra-op threads; 0 keeps torch's default.
        validation: held-out data for per-epoch metrics and early stopping.
        validation_share: read by the protocol, not the model: under P1 (and ``p1-inner``),
            the share of each user's training rows held out as ``validation`` for a model
            that trains in epochs (``Recommender.trains_in_epochs``); 0 (the default) holds
            out nothing and leaves P1 as it always was.
    """

    device: str = "cpu"
    seed: int = 42
    dry_run: bool = False
    max_epochs: int | None = None
    threads: int = 0
    validation: ValidationData | None = None
    validation_share: float = 0.0

    def __post_init__(self) -> None:
        check_validation_share(self.validation_share)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def epochs(self, configured: int) -> int:
        if self.dry_run:
            return 1
        return min(configured, self.max_epochs) if self.max_epochs else configured


#: ``validation_share`` must stay below this: past half, validation would outweigh training.
MAX_VALIDATION_SHARE = 0.5


def check_validation_share(value: Any) -> float:
    """``value`` as a float in [0, MAX_VALIDATION_SHARE), or ConfigError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("validation_share", f"expected a number, got {value!r}")
    if not 0.0 <= value < MAX_VALIDATION_SHARE:  # NaN fails too
        raise ConfigError(
            "validation_share",
            f"must be at least 0 and below {MAX_VALIDATION_SHARE} (0 = no validation), got {value}",
        )
    return float(value)


@dataclass(frozen=True)
class ValidationData:
    """Held-out targets: ``targets[i]`` are the item indices of user ``batch.user_idx[i]``."""

    batch: UserBatch
    targets: list[np.ndarray]


class Recommender(ABC):
    """Fit on :class:`Interactions`, then score users over all items.

    Two optional class attributes serve the contract suite
    (``tests/recommender/algorithms/test_contract.py``), which runs every registered model on a
    tiny synthetic data set with a known answer:

    - ``contract_config: dict[str, Any]``: hyper-parameters that fit the model on that data in
      well under two seconds and still find the answer (e.g. few factors, few epochs);
    - ``contract_invalid_config: dict[str, Any]``: one bad value the config must reject with a
      ``ConfigError`` naming that field, e.g. ``{"epochs": 0}``. Without it, the suite expects
      at least one numeric field to reject -1.

    A config with an ``epochs`` field marks an iterative model: it must call ``on_epoch`` once
    per epoch, numbering epochs from 1.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[AlgorithmConfig]]
    #: True when ``predict`` returns explicit-rating estimates (P2).
    predicts_ratings: ClassVar[bool] = False
    #: True when ``score`` uses ``UserBatch.history``, so fresh ratings change the list at once.
    uses_history: ClassVar[bool] = False
    #: True when the model learns from ``Interactions.item_features`` (titles, genres), so it
    #: can score items that have no interactions yet (cold-start items).
    uses_item_content: ClassVar[bool] = False
    #: True when ``fit`` weighs implicit interactions by their values: the signal then hands
    #: it rating × event weight instead of the event weight alone (``Signal.rating_values``).
    reads_rating_values: ClassVar[bool] = False
    #: True when ``fit`` trains in epochs and scores ``TrainOptions.validation`` after each
    #: (per-epoch validation curves, early stopping). Only these models get a validation
    #: carve-out under P1 (``TrainOptions.validation_share``); a closed-form model would
    #: only lose training data to it.
    trains_in_epochs: ClassVar[bool] = False

    #: What the last fit's epoch loop did (``training.run_epochs`` sets it): epochs run, the
    #: best epoch under validation, whether it stopped early. None for closed-form models.
    train_result: TrainResult | None = None

    def __init__(self, config: AlgorithmConfig | None = None) -> None:
        self.config = config or self.config_class()
        self.n_users = 0
        self.n_items = 0

    @abstractmethod
    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        """Train on ``data``; report each epoch to ``on_epoch``."""

    @abstractmethod
    def score(self, batch: UserBatch) -> np.ndarray:
        """float32 scores, shape (len(batch), n_items); higher is better."""

    def predict(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Explicit rating estimates for (user, item) pairs; only rating models implement it."""
        raise NotImplementedError(f"{self.name} does not predict ratings")

    @abstractmethod
    def get_state(self) -> dict[str, Any]:
        """Learned parameters as tensors, arrays and plain numbers (no objects)."""

    @classmethod
    @abstractmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> Recommender:
        """Rebuild a fitted model from its config and :meth:`get_state`."""

    def recommend(
        self, batch: UserBatch, n: int, exclude_history: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores per user, best first, shape (b, n)."""
        scores = self.score(batch).astype(np.float32, copy=True)
        if exclude_history:
            rows, cols = batch.history.nonzero()
            scores[rows, cols] = -np.inf
        return top_n(scores, n)


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``n`` largest scores per row, sorted descending.

    Ties are broken by the lower item index, so results are deterministic.
    """
    n = min(n, scores.shape[1])
    if n <= 0:
        empty = np.empty((scores.shape[0], 0), dtype=np.int64)
        return empty, np.empty((scores.shape[0], 0), dtype=scores.dtype)
    scores = np.where(np.isnan(scores), -np.inf, scores)  # NaN ranks last, like -inf
    # argpartition alone keeps an arbitrary member of a tie at the cut, so take the n-th largest
    # score and keep everything above it plus the lowest-index items equal to it.
    kth = -np.partition(-scores, n - 1, axis=1)[:, n - 1 : n]
    above = scores > kth
    at = scores == kth
    room = n - above.sum(axis=1, keepdims=True)
    keep = above | (at & (np.cumsum(at, axis=1) <= room))
    part = np.nonzero(keep)[1].reshape(scores.shape[0], n)
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(scores, idx, axis=1)

"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from recommender.algorithms.base import (
    AlgorithmConfig,
    ConfigError,
    EpochCallback,
    Recommender,
    TrainOptions,
)
from recommender.data import Interactions, UserBatch

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class PopularityConfig(AlgorithmConfig):
    # Half-life in days of an interaction's weight, counted back from the newest interaction in
    # the training data; 0 counts every interaction fully (the P1 baseline). 7–90 suits a
    # catalogue where fashion moves; must be >= 0.
    half_life_days: float = 0.0

    def validate(self) -> None:
        if self.half_life_days < 0:
            raise ConfigError("half_life_days", f"must be >= 0, got {self.half_life_days}")


class Popularity(Recommender):
    """Scores every item by its number of distinct training users (optionally time-decayed).

    The scores ignore the user, so a cold-start rater gets the same list minus their history.
    """

    name: ClassVar[str] = "popularity"
    config_class: ClassVar[type[AlgorithmConfig]] = PopularityConfig
    config: PopularityConfig

    def __init__(self, config: PopularityConfig | None = None) -> None:
        super().__init__(config)
        self.item_scores = np.zeros(0, dtype=np.float32)

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        self.n_users, self.n_items = data.n_users, data.n_items
        if self.config.half_life_days == 0:
            self.item_scores = data.item_popularity().astype(np.float32)
            return
        age_days = (data.timestamp.max(initial=0) - data.timestamp) / SECONDS_PER_DAY
        weight = np.power(0.5, age_days / self.config.half_life_days)
        scores = np.bincount(data.item_idx, weights=weight, minlength=data.n_items)
        self.item_scores = scores.astype(np.float32)

    def score(self, batch: UserBatch) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(batch), self.n_items)).copy()

    def get_state(self) -> dict[str, Any]:
        return {"item_scores": self.item_scores, "n_users": self.n_users}

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> Popularity:
        model = cls(config)  # type: ignore[arg-type]
        model.item_scores = np.asarray(state["item_scores"], dtype=np.float32)
        model.n_items = len(model.item_scores)
        model.n_users = int(state["n_users"])
        return model

"""EASE mixed with two complementary closed-form item-item views of the same history.

A user's score is a weighted sum of three per-user z-scored components, each ``history @ W``
for a fixed item-item operator W learned from the training interactions:

1. **EASE** (Steck, WWW 2019) with emphasised denoising: ``B = I - P·diag(1/diag(P))``,
   ``P = (XᵀX + Λ)⁻¹``, the same closed form as ``ease.py``.
2. **Session neighbours**: how often item j was consumed within ``neighbour_window``
   positions of item i in the same user's time-ordered sequence (weight ``neighbour_decay**(d-1)``
   at distance d), row-normalised into transition shares and divided by ``popularity^γ``.
   Ratings arrive in sessions (a user rates a page of titles at once), so the items next to a
   user's known items in *other* users' sessions are likely to be rated in the same session;
   EASE only sees that two items share a user, not that they were consumed together.
3. **Spectral low-pass**: the projection onto the top ``spectral_rank`` eigenvectors of the
   normalised item Gram ``R̃ᵀR̃``, ``R̃ = D_u^-1/2 X D_i^-1/2`` — the "ideal low-pass filter" of
   GF-CF (Shen et al., CIKM 2021). It smooths over the global taste structure that a sparse
   item-item model misses.

Each component is z-scored per user over the items before mixing, so the weights do not depend
on the components' scales. All three read only the history (no user parameters), so an unknown
user is scored from ``UserBatch.history`` exactly like a known one and fresh ratings change the
list at once.

Time context (off by default): an item whose first interaction in the training data comes more
than ``future_margin_days`` after a known user's last training interaction did not exist yet
while that user was active, so it is ranked after every other candidate for that user. That is
right when replaying the past (a random split such as P1, where it adds about 0.004 NDCG@10 on
ML-100K) but wrong when serving: for a user who comes back after a while, those are exactly
the new items. So serving keeps it off; switch it on only to study a retrospective split.

Cost: two dense n_items × n_items matrices (an inverse and a partial eigensolve), like EASE;
fine up to a few tens of thousands of items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recommender.algorithms.base import (
    AlgorithmConfig,
    ConfigError,
    EpochCallback,
    Recommender,
    TrainOptions,
    check_range,
)
from recommender.algorithms.ease import closed_form
from recommender.data import Interactions, UserBatch

# Keeps a constant score row (e.g. an empty history) at z = 0 instead of dividing by zero.
_STD_FLOOR = 1e-8
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class EASEMixConfig(AlgorithmConfig):
    """EASE-mix hyper-parameters.

    Defaults were chosen on the inner 75/25 split of the ML-100K P1 train set (seed 42) by
    ``bench/tune_ease_mix.py``, which prints the whole grid (1,080 points): best inner NDCG@10
    0.2798 against 0.2668 for the EASE part alone (0.2682 with the time context). The top is
    flat: the ten best points (0.2786-0.2798) span window 3-10, γ 0.25-0.5, neighbour weight
    1.0-2.0, spectral weight 0.5-1.0 and margin 1-7 days, all at rank 32 (best at rank 16:
    0.2747, at 64: 0.2776). Without the time context (the default, see the module docstring)
    the best is 0.2787. On the P1 test split the gain is smaller: NDCG@10 0.4841 against
    EASE's 0.4806 (0.4851 with the time context). The EASE part keeps
    ``EASEConfig``'s defaults, which a joint search (l2 200-800, dropout 0-0.33) did not beat.
    """

    # EASE: L2 penalty λ on the Gram diagonal; > 0. Grows with the number of users.
    l2: float = 500.0
    # EASE: emphasised-denoising dropout rate p, adds p/(1-p)·(XᵀX)_ii to the diagonal; [0, 1).
    dropout: float = 0.2
    # Weight of the session-neighbour component relative to EASE (weight 1); 0 switches it off;
    # 0-10.
    neighbour_weight: float = 1.5
    # Positions either side in a user's time-ordered sequence that count as neighbours; 1-100.
    neighbour_window: int = 10
    # Weight of a neighbour at distance d is decay**(d-1); (0, 1].
    neighbour_decay: float = 0.7
    # γ in share / popularity^γ: 0 favours popular neighbours, 1 fully discounts popularity;
    # 0-1.
    neighbour_popularity_exponent: float = 0.25
    # Weight of the spectral low-pass component relative to EASE; 0 switches it off; 0-10.
    spectral_weight: float = 1.0
    # Eigenvectors kept by the low-pass filter (capped at the number of items); 1-4096.
    spectral_rank: int = 32
    # An item first seen more than this many days after a known user's last training
    # interaction is ranked last for that user (it did not exist while they were active);
    # a negative value switches the time context off (the default: it demotes new items for
    # returning users when serving); at most 36500.
    future_margin_days: float = -1.0

    def validate(self) -> None:
        if not self.l2 > 0:
            raise ConfigError("l2", f"must be > 0, got {self.l2}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout", f"must be in [0, 1), got {self.dropout}")
        check_range("neighbour_weight", self.neighbour_weight, 0.0, 10.0)
        check_range("neighbour_window", self.neighbour_window, 1, 100)
        if not 0.0 < self.neighbour_decay <= 1.0:
            raise ConfigError("neighbour_decay", f"must be in (0, 1], got {self.neighbour_decay}")
        check_range("neighbour_popularity_exponent", self.neighbour_popularity_exponent, 0.0, 1.0)
        check_range("spectral_weight", self.spectral_weight, 0.0, 10.0)
        check_range("spectral_rank", self.spectral_rank, 1, 4096)
        if self.future_margin_days > 36_500:
            raise ConfigError(
                "future_margin_days", f"must be at most 36500, got {self.future_margin_days}"
            )


class EASEMix(Recommender):
    """EASE + session-neighbour item-item + spectral low-pass, z-scored and mixed per user."""

    name: ClassVar[str] = "ease_mix"
    config_class: ClassVar[type[AlgorithmConfig]] = EASEMixConfig
    uses_history: ClassVar[bool] = True
    contract_config: ClassVar[dict[str, Any]] = {"l2": 1.0, "spectral_rank": 4}
    config: EASEMixConfig

    def __init__(self, config: EASEMixConfig | None = None) -> None:
        super().__init__(config)
        self.ease_weights = np.zeros((0, 0), dtype=np.float32)
        self.neighbour_weights = np.zeros((0, 0), dtype=np.float32)
        self.spectral_in = np.zeros((0, 0), dtype=np.float32)
        self.spectral_out = np.zeros((0, 0), dtype=np.float32)
        self.popularity = np.zeros(0, dtype=np.float32)
        # Seconds since the epoch, float64: each item's first and each user's last interaction.
        self.item_first_seen = np.zeros(0, dtype=np.float64)
        self.user_last_seen = np.zeros(0, dtype=np.float64)

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        config = self.config
        self.n_users, self.n_items = data.n_users, data.n_items
        matrix = data.matrix(binary=True)
        popularity = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float64)
        gram = (matrix.T @ matrix).toarray().astype(np.float64)
        self.ease_weights = closed_form(gram, config.l2, config.dropout).astype(np.float32)
        del gram
        self.neighbour_weights = neighbour_transitions(
            data,
            config.neighbour_window,
            config.neighbour_decay,
            config.neighbour_popularity_exponent,
        ).astype(np.float32)
        basis, item_scale = spectral_basis(matrix, config.spectral_rank)
        self.spectral_in = (basis / item_scale[:, None]).astype(np.float32)
        self.spectral_out = (basis * item_scale[:, None]).astype(np.float32)
        self.popularity = popularity.astype(np.float32)
        self.item_first_seen = np.full(data.n_items, np.inf)
        np.minimum.at(self.item_first_seen, data.item_idx, data.timestamp.astype(np.float64))
        self.user_last_seen = np.full(data.n_users, -np.inf)
        np.maximum.at(self.user_last_seen, data.user_idx, data.timestamp.astype(np.float64))

    def score(self, batch: UserBatch) -> np.ndarray:
        history = batch.history.astype(np.float32, copy=True)
        history.data[:] = 1.0  # every operator was learned from a binary matrix
        config = self.config
        scores = _zscore(np.asarray(history @ self.ease_weights))
        if config.neighbour_weight > 0:
            scores += np.float32(config.neighbour_weight) * self._neighbours(history)
        if config.spectral_weight > 0:
            scores += np.float32(config.spectral_weight) * self._low_pass(history)
        self._rank_empty_by_popularity(scores, history)
        self._demote_future_items(scores, batch.user_idx)
        return scores.astype(np.float32, copy=False)

    def components(self, history: sp.csr_matrix) -> list[np.ndarray]:
        """The three per-user z-scored components (EASE, neighbours, spectral) of a binary
        history, whatever their weights; ``mix`` combines them as ``score`` does."""
        return [
            _zscore(np.asarray(history @ self.ease_weights)),
            self._neighbours(history),
            self._low_pass(history),
        ]

    def mix(self, components: list[np.ndarray]) -> np.ndarray:
        """The weighted sum of ``components``, without the time context or the empty-row rule."""
        ease, neighbours, low_pass = components
        config = self.config
        return ease + (
            np.float32(config.neighbour_weight) * neighbours
            + np.float32(config.spectral_weight) * low_pass
        )

    def _neighbours(self, history: sp.csr_matrix) -> np.ndarray:
        return _zscore(np.asarray(history @ self.neighbour_weights))

    def _low_pass(self, history: sp.csr_matrix) -> np.ndarray:
        return _zscore(np.asarray(history @ self.spectral_in) @ self.spectral_out.T)

    def _rank_empty_by_popularity(self, scores: np.ndarray, history: sp.csr_matrix) -> None:
        """Every component is zero for an empty history; rank those users by popularity."""
        empty = np.diff(history.indptr) == 0
        if empty.any():
            scores[empty] = _zscore(np.log1p(self.popularity)[None, :])

    def _demote_future_items(self, scores: np.ndarray, user_idx: np.ndarray) -> None:
        """Rank items that appeared after a known user's last visit (+ margin) last, in place."""
        margin = self.config.future_margin_days
        if margin < 0 or len(self.user_last_seen) == 0:
            return
        known = (user_idx >= 0) & (user_idx < len(self.user_last_seen))
        rows = np.flatnonzero(known)
        deadline = self.user_last_seen[user_idx[rows]] + margin * SECONDS_PER_DAY
        future = self.item_first_seen[None, :] > deadline[:, None]
        # Shifting by the row's whole score range (+1) puts them below every other item while
        # keeping their order among themselves.
        block = scores[rows]
        span = block.max(axis=1, keepdims=True) - block.min(axis=1, keepdims=True) + 1.0
        scores[rows] = np.where(future, block - span, block)

    def get_state(self) -> dict[str, Any]:
        return {
            "ease_weights": self.ease_weights,
            "neighbour_weights": self.neighbour_weights,
            "spectral_in": self.spectral_in,
            "spectral_out": self.spectral_out,
            "popularity": self.popularity,
            "item_first_seen": self.item_first_seen,
            "user_last_seen": self.user_last_seen,
            "n_users": self.n_users,
        }

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> EASEMix:
        model = cls(config)  # type: ignore[arg-type]
        for key in ("ease_weights", "neighbour_weights", "spectral_in", "spectral_out"):
            setattr(model, key, np.asarray(state[key], dtype=np.float32))
        model.popularity = np.asarray(state["popularity"], dtype=np.float32)
        model.item_first_seen = np.asarray(state["item_first_seen"], dtype=np.float64)
        model.user_last_seen = np.asarray(state["user_last_seen"], dtype=np.float64)
        model.n_items = model.ease_weights.shape[0]
        model.n_users = int(state["n_users"])
        return model


def _zscore(scores: np.ndarray) -> np.ndarray:
    """Per-row (per-user) standardisation over the items, float32."""
    scores = np.asarray(scores, dtype=np.float32)
    centred = scores - scores.mean(axis=1, keepdims=True)
    return centred / np.maximum(centred.std(axis=1, keepdims=True), _STD_FLOOR)


def neighbour_transitions(
    data: Interactions, window: int, decay: float, popularity_exponent: float
) -> np.ndarray:
    """Dense (n_items, n_items) session-neighbour operator, float64, zero diagonal.

    Row i holds the decay-weighted counts of items consumed within ``window`` positions of i
    in the same user's time-ordered sequence (both directions), normalised to sum to 1 and
    divided by the neighbour's popularity (distinct users) to the power ``popularity_exponent``.
    """
    order = np.lexsort((np.arange(len(data)), data.timestamp, data.user_idx))
    users, items = data.user_idx[order], data.item_idx[order]
    rows, cols, weights = [], [], []
    for distance in range(1, window + 1):
        same_user = users[distance:] == users[:-distance]
        before, after = items[:-distance][same_user], items[distance:][same_user]
        weight = np.full(len(before), decay ** (distance - 1))
        rows += [before, after]
        cols += [after, before]
        weights += [weight, weight]
    n = data.n_items
    counts = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).toarray()
    np.fill_diagonal(counts, 0.0)  # a repeat of the same item is no neighbour
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    popularity = np.maximum(data.item_popularity(), 1.0)
    return shares / popularity[None, :] ** popularity_exponent


def spectral_basis(matrix: sp.csr_matrix, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``rank`` eigenvectors of R̃ᵀR̃ (R̃ = D_u^-1/2 X D_i^-1/2) and the item scale √d_i.

    The low-pass scores of a history h are ``((h / √d) @ V) @ (V * √d)ᵀ`` (GF-CF's ideal
    filter). A dense symmetric eigensolve (``eigh`` with a subset) is deterministic, unlike a
    randomly started sparse SVD.
    """
    user_degree = np.asarray(matrix.sum(axis=1)).ravel()
    item_degree = np.asarray(matrix.sum(axis=0)).ravel()
    user_scale = 1.0 / np.sqrt(np.maximum(user_degree, 1.0))
    item_scale = np.sqrt(np.maximum(item_degree, 1.0))
    normalised = sp.diags(user_scale) @ matrix @ sp.diags(1.0 / item_scale)
    gram = (normalised.T @ normalised).toarray().astype(np.float64)
    n = gram.shape[0]
    rank = min(rank, n)
    _, vectors = scipy.linalg.eigh(gram, subset_by_index=(n - rank, n - 1))
    return vectors, item_scale

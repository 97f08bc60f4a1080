"""Biased matrix factorisation for explicit ratings: r̂ = μ + b_u + b_i + p_u · q_i.

Two solvers fit the same model:

- ``"als"``: alternating ridge regressions. Each user's ``[b_u, p_u]`` is solved exactly given
  the items, then each item's given the users. The L2 weight grows with the row's rating count
  as ``reg * n ** reg_exponent`` (ALS-WR uses exponent 1; 0.5 was better on ML-100K).
- ``"mcmc"`` (default): Bayesian MF by Gibbs sampling (Salakhutdinov & Mnih 2008, with the
  per-dimension Normal-Gamma priors of libFM's MCMC). The same conditional Gaussians as ALS
  are sampled instead of solved and the prior precisions are sampled too, so there is no L2 to
  tune; predictions average the kept samples. The rating noise is fixed at ``noise_share`` of
  the rating variance: sampling it too (libFM) let it shrink and overfit.

Choice, by RMSE on the inner 75/25 split of the ML-100K P1 train set (seed 42): the best ALS
(50 factors, reg 1.5 · n^0.5) reached 0.9203; MCMC with sampled noise 0.9165-0.9205 across
seeds; MCMC with noise_share 0.6 and 24 factors 0.9116 (0.5: 0.9127, 0.7: 0.9168; 32 factors
no better). ALS-WR (exponent 1) was 0.924 at its best reg.

The averaged prediction is still one dot product: the kept samples' factors are concatenated
(scaled by 1/√S), so ``score``/``predict`` and the saved state are the same for both solvers.
Each sweep solves all users (then all items) at once with batched Cholesky factorisations; the
per-row Gram matrices come from one sparse-dense product (``X @ vec(a aᵀ)``), chunked by rows.
It runs on the CPU in float64 (small dense solves; ``TrainOptions.device`` is not used).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from recommender.algorithms.base import (
    AlgorithmConfig,
    ConfigError,
    EpochCallback,
    Recommender,
    TrainOptions,
    check_range,
)
from recommender.data import Interactions, UserBatch
from recommender.training import torch_threads, validation_scores

logger = logging.getLogger(__name__)

SOLVERS = ("mcmc", "als")
#: Rows per chunk of the Gram computation: bounds memory at chunk × (factors + 1)² doubles.
GRAM_CHUNK = 4096
#: Gamma(shape, rate) hyper-prior of every precision, and the prior strength of the means
#: (libFM's defaults: weak, so the data decide).
HYPER_SHAPE, HYPER_RATE, MEAN_STRENGTH = 1.0, 1.0, 1.0


@dataclass(frozen=True)
class BiasedMFConfig(AlgorithmConfig):
    """Biased MF hyper-parameters.

    Defaults were chosen by RMSE on the inner 75/25 split of the ML-100K P1 train set
    (seed 42): MCMC with 16 factors, 100 sweeps, the first 30 discarded; see the module
    docstring for the ALS comparison.
    """

    # "mcmc" (Gibbs-sampled Bayesian MF) or "als" (alternating least squares with L2).
    solver: str = "mcmc"
    # Latent dimensions; 4-128. MCMC prefers few (8-32), ALS tolerates more.
    factors: int = 24
    # Sweeps over users and items (ALS iterations or MCMC samples); 5-500.
    epochs: int = 100
    # MCMC: sweeps discarded before averaging starts (burn-in); 0 to epochs - 1.
    burn_in: int = 30
    # MCMC: keep every n-th sample after burn-in; saved state grows with the kept count.
    thin: int = 1
    # MCMC: rating noise variance as a share of the training ratings' variance; 0.2-0.8.
    # 0 samples the noise precision instead (libFM); that let it drift up and overfit here.
    noise_share: float = 0.6
    # ALS: L2 weight of the factors, multiplied by n ** reg_exponent per row; 0.01-10.
    reg: float = 1.5
    # ALS: L2 weight of the biases, scaled the same way; 0-10.
    bias_reg: float = 0.5
    # ALS: how the L2 weight grows with a row's rating count n (0: constant, 1: ALS-WR); 0-1.
    reg_exponent: float = 0.5
    # Standard deviation of the random initial factors; 0.001-1.
    init_std: float = 0.1
    # Predictions are clipped to [min_rating, max_rating] (the rating scale).
    min_rating: float = 1.0
    max_rating: float = 5.0

    def validate(self) -> None:
        if self.solver not in SOLVERS:
            raise ConfigError("solver", f"must be one of {', '.join(SOLVERS)}")
        check_range("factors", self.factors, 1, 1024)
        check_range("epochs", self.epochs, 1, 100_000)
        check_range("burn_in", self.burn_in, 0, 100_000)
        check_range("thin", self.thin, 1, 100_000)
        check_range("noise_share", self.noise_share, 0.0, 10.0)
        check_range("reg", self.reg, 0.0, 1e6)
        check_range("bias_reg", self.bias_reg, 0.0, 1e6)
        check_range("reg_exponent", self.reg_exponent, 0.0, 2.0)
        check_range("init_std", self.init_std, 0.0, 10.0)
        check_range("min_rating", self.min_rating, -1e9, 1e9)
        check_range("max_rating", self.max_rating, self.min_rating, 1e9)
        if self.solver == "mcmc" and self.burn_in >= self.epochs:
            raise ConfigError("burn_in", "must be smaller than epochs")


@dataclass
class _Ratings:
    """The training ratings in the shapes the sweeps need (float64, centred on the mean)."""

    by_user: sp.csr_matrix  # binary, (n_users, n_items)
    by_item: sp.csr_matrix  # binary, (n_items, n_users)
    centred_by_user: sp.csr_matrix
    centred_by_item: sp.csr_matrix
    user_idx: torch.Tensor
    item_idx: torch.Tensor
    centred: torch.Tensor
    mean: float

    @classmethod
    def build(cls, data: Interactions) -> _Ratings:
        matrix = data.matrix(binary=False).astype(np.float64)
        counts = data.matrix(binary=True).astype(np.float64)
        # Duplicate (user, item) rows were summed by matrix(); average them instead.
        matrix.data /= counts.data
        mean = float(matrix.data.mean()) if matrix.nnz else 0.0
        centred = matrix.copy()
        centred.data -= mean
        coo = centred.tocoo()
        as_index = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
        return cls(
            counts, counts.T.tocsr(), centred, centred.T.tocsr(),
            as_index(coo.row), as_index(coo.col), torch.as_tensor(coo.data), mean,
        )  # fmt: skip


class BiasedMF(Recommender):
    """Explicit-rating matrix factorisation with global, user and item biases."""

    name = "biased_mf"
    config_class = BiasedMFConfig
    trains_in_epochs = True
    predicts_ratings = True
    contract_config: ClassVar[dict[str, Any]] = {"factors": 4, "epochs": 30, "burn_in": 10}
    config: BiasedMFConfig

    def __init__(self, config: BiasedMFConfig | None = None) -> None:
        super().__init__(config)
        self.global_mean = 0.0
        # (n, 1 + d) float32: column 0 the bias, the rest the (concatenated, scaled) factors.
        self.user_vectors: torch.Tensor | None = None
        self.item_vectors: torch.Tensor | None = None

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        options = options or TrainOptions()
        cfg = self.config
        self.n_users, self.n_items = data.n_users, data.n_items
        ratings = _Ratings.build(data)
        self.global_mean = ratings.mean
        generator = torch.Generator().manual_seed(options.seed)
        users = torch.randn(self.n_users, cfg.factors + 1, generator=generator, dtype=torch.float64)
        items = torch.randn(self.n_items, cfg.factors + 1, generator=generator, dtype=torch.float64)
        users, items = users * cfg.init_std, items * cfg.init_std
        users[:, 0] = items[:, 0] = 0.0
        sampler = None
        if cfg.solver == "mcmc":
            sampler = _GibbsSampler(cfg, generator, float(ratings.centred.var()))
        kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        with torch_threads(options.threads):
            for epoch in range(1, options.epochs(cfg.epochs) + 1):
                started = time.perf_counter()
                users, items = self._sweep(ratings, users, items, sampler)
                if sampler is not None and _is_kept(cfg, epoch):
                    kept.append((users.clone(), items.clone()))
                self._set_vectors(kept or [(users, items)])
                metrics = {"train_loss": _train_mse(ratings, users, items)}
                metrics["epoch_seconds"] = time.perf_counter() - started
                if options.validation is not None:
                    metrics.update(validation_scores(self, options.validation))
                if on_epoch is not None:
                    on_epoch(epoch, metrics)

    def _sweep(
        self,
        ratings: _Ratings,
        users: torch.Tensor,
        items: torch.Tensor,
        sampler: _GibbsSampler | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass: all users given the items, then all items given the new users."""
        if sampler is None:
            users = _als_side(ratings.by_user, ratings.centred_by_user, items, self.config)
            items = _als_side(ratings.by_item, ratings.centred_by_item, users, self.config)
            return users, items
        users = sampler.side(ratings.by_user, ratings.centred_by_user, users, items)
        items = sampler.side(ratings.by_item, ratings.centred_by_item, items, users)
        sampler.sample_noise(ratings, users, items)
        return users, items

    def _set_vectors(self, samples: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Average the samples' predictions by concatenating their factors, scaled by 1/√S."""
        scale = 1.0 / np.sqrt(len(samples))
        self.user_vectors = _concatenate([u for u, _ in samples], scale)
        self.item_vectors = _concatenate([i for _, i in samples], scale)

    def predict(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Clipped rating estimates; an unknown user or item (-1) contributes no terms."""
        users, items = self._require_fitted()
        user_idx = torch.as_tensor(np.asarray(user_idx), dtype=torch.int64)
        item_idx = torch.as_tensor(np.asarray(item_idx), dtype=torch.int64)
        user = _rows_or_zeros(users, user_idx)
        item = _rows_or_zeros(items, item_idx)
        values = self.global_mean + user[:, 0] + item[:, 0] + (user[:, 1:] * item[:, 1:]).sum(1)
        return values.clamp(self.config.min_rating, self.config.max_rating).numpy()

    def score(self, batch: UserBatch) -> np.ndarray:
        """Unclipped rating estimates for all items (ranking by clipped ones would tie at 5).

        A user the model never saw (``user_idx`` -1) is folded in from the ratings in their
        history row (:meth:`fold_in`); one with no ratings gets global mean + item bias, the
        best non-personal guess. A binary history (every value 1, as evaluation protocols pass
        for implicit data) holds no ratings to regress on, so it is not folded in either.
        """
        users, items = self._require_fitted()
        user_idx = torch.as_tensor(batch.user_idx, dtype=torch.int64)
        user = _rows_or_zeros(users, user_idx)
        history = sp.csr_matrix(batch.history)
        rated = torch.from_numpy(np.diff(history.indptr) > 0)
        fold = (user_idx < 0) & rated
        if bool(fold.any()) and not _is_binary(history):
            user[fold] = self.fold_in(history[fold.numpy()])
        scores = user[:, 1:] @ items[:, 1:].T + items[:, 0] + user[:, :1] + self.global_mean
        return scores.numpy().astype(np.float32)

    def fold_in(self, ratings: sp.csr_matrix) -> torch.Tensor:
        """``[b_u, p_u]`` of new users from their ratings, items frozen: one ALS half-step.

        Each row is the ridge regression of (rating - global mean - item bias) on the rated
        items' ``[1, q_i]``, with the ALS penalty (``reg``, ``bias_reg``, scaled by
        ``n ** reg_exponent``) whichever solver trained the model. Closed form, so the same
        ratings always give the same vector. With fewer ratings than dimensions (MCMC keeps
        many samples' factors side by side) the equivalent n × n dual system is solved.

        Args:
            ratings: CSR, shape (b, n_items); the explicit ratings of each user.

        Returns:
            float32, shape (b, 1 + factors): the same layout as the stored user vectors.
        """
        _, items = self._require_fitted()
        weights = torch.full((items.shape[1],), self.config.reg, dtype=torch.float64)
        weights[0] = self.config.bias_reg
        weights = weights.clamp(min=1e-6)  # a zero weight would make the system singular
        ratings = sp.csr_matrix(ratings, dtype=np.float64)
        rows = []
        for start, end in zip(ratings.indptr[:-1], ratings.indptr[1:], strict=True):
            # Only the rated items' rows, in float64: copying the whole table would cost more
            # than the solve when many samples' factors sit side by side.
            rated = items[torch.from_numpy(ratings.indices[start:end].astype(np.int64))].double()
            design = torch.cat([torch.ones(len(rated), 1, dtype=torch.float64), rated[:, 1:]], 1)
            target = torch.from_numpy(ratings.data[start:end].copy()) - self.global_mean
            penalty = weights * max(end - start, 1) ** self.config.reg_exponent
            rows.append(_ridge(design, target - rated[:, 0], penalty))
        return torch.stack(rows).float()

    def item_embeddings(self) -> np.ndarray:
        """The items' factors without their biases: what relates two items (explanations)."""
        _, items = self._require_fitted()
        return items[:, 1:].numpy()

    def get_state(self) -> dict[str, Any]:
        users, items = self._require_fitted()
        return {"global_mean": self.global_mean, "users": users, "items": items}

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> BiasedMF:
        assert isinstance(config, BiasedMFConfig)
        model = cls(config)
        model.global_mean = float(state["global_mean"])
        model.user_vectors = torch.as_tensor(state["users"], dtype=torch.float32)
        model.item_vectors = torch.as_tensor(state["items"], dtype=torch.float32)
        model.n_users, model.n_items = len(model.user_vectors), len(model.item_vectors)
        return model

    def _require_fitted(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.user_vectors is None or self.item_vectors is None:
            raise RuntimeError("BiasedMF is not fitted")
        return self.user_vectors, self.item_vectors


def _is_kept(cfg: BiasedMFConfig, epoch: int) -> bool:
    return epoch > cfg.burn_in and (epoch - cfg.burn_in - 1) % cfg.thin == 0


def _concatenate(samples: list[torch.Tensor], scale: float) -> torch.Tensor:
    """[mean bias | all factors × scale] as float32, shape (n, 1 + S·k)."""
    bias = torch.stack([s[:, 0] for s in samples]).mean(0)[:, None]
    factors = torch.cat([s[:, 1:] * scale for s in samples], dim=1)
    return torch.cat([bias, factors], dim=1).float()


def _is_binary(history: sp.csr_matrix) -> bool:
    return bool(history.nnz) and bool(np.all(history.data == 1.0))


def _ridge(design: torch.Tensor, target: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """argmin_x |target - design x|² + Σ penalty_d x_d², float64.

    Primal ``(AᵀA + P)⁻¹ Aᵀy`` when there are at least as many ratings as dimensions, else
    the same solution through the dual: ``P⁻¹Aᵀ (A P⁻¹ Aᵀ + I)⁻¹ y``.
    """
    n, d = design.shape
    if n >= d:
        system = design.T @ design + torch.diag(penalty)
        return torch.linalg.solve(system, design.T @ target)
    scaled = design / penalty  # A P⁻¹
    kernel = scaled @ design.T + torch.eye(n, dtype=design.dtype)
    return scaled.T @ torch.linalg.solve(kernel, target)


def _rows_or_zeros(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` with all-zero rows where ``idx`` is -1."""
    rows = table[idx.clamp(min=0)]
    return torch.where((idx >= 0)[:, None], rows, torch.zeros_like(rows))


def _train_mse(ratings: _Ratings, users: torch.Tensor, items: torch.Tensor) -> float:
    """Mean squared error of the current (not averaged) parameters on the training ratings."""
    user, item = users[ratings.user_idx], items[ratings.item_idx]
    fitted = user[:, 0] + item[:, 0] + (user[:, 1:] * item[:, 1:]).sum(1)
    return float((ratings.centred - fitted).square().mean())


def _normal_equations(
    counts: sp.csr_matrix, centred: sp.csr_matrix, other: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row Gram matrices and right-hand sides for solving ``[b, p]`` of every row.

    Row r's design rows are a_j = [1, other_j factors] over the columns j it rated, and its
    targets are (rating - mean - other_j bias).

    Returns:
        gram: (n, d, d) with Σ_j a_j a_jᵀ; rhs: (n, d) with Σ_j a_j · target_j; d = 1 + k.
    """
    design = torch.cat([torch.ones(len(other), 1, dtype=other.dtype), other[:, 1:]], dim=1)
    d = design.shape[1]
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), d * d).numpy()
    grams = [
        torch.from_numpy(counts[start : start + GRAM_CHUNK] @ outer)
        for start in range(0, counts.shape[0], GRAM_CHUNK)
    ]
    gram = torch.cat(grams).reshape(-1, d, d)
    shifted = (other[:, :1] * design).numpy()
    rhs = torch.from_numpy(centred @ design.numpy() - counts @ shifted)
    return gram, rhs


def _als_side(
    counts: sp.csr_matrix, centred: sp.csr_matrix, other: torch.Tensor, cfg: BiasedMFConfig
) -> torch.Tensor:
    """Exact ridge solution of every row's ``[b, p]`` given the other side."""
    gram, rhs = _normal_equations(counts, centred, other)
    n = torch.from_numpy(np.diff(counts.indptr)).to(torch.float64).clamp(min=1)
    weights = torch.full((gram.shape[1],), cfg.reg, dtype=torch.float64)
    weights[0] = cfg.bias_reg
    penalty = torch.diag_embed(n[:, None] ** cfg.reg_exponent * weights)
    return torch.linalg.solve(gram + penalty, rhs)


class _GibbsSampler:
    """Block Gibbs sampling of BPMF with per-dimension Normal-Gamma priors (libFM's MCMC)."""

    def __init__(self, cfg: BiasedMFConfig, generator: torch.Generator, variance: float) -> None:
        self.generator = generator
        self.fixed_noise = cfg.noise_share > 0
        self.noise_precision = 1.0 / (cfg.noise_share * variance) if self.fixed_noise else 1.0
        self.dims = cfg.factors + 1

    def side(
        self, counts: sp.csr_matrix, centred: sp.csr_matrix, rows: torch.Tensor, other: torch.Tensor
    ) -> torch.Tensor:
        """Sample the prior of ``rows``, then every row from its Gaussian conditional."""
        mean, precision = self._sample_prior(rows)
        gram, rhs = _normal_equations(counts, centred, other)
        system = self.noise_precision * gram + torch.diag(precision)
        cholesky = torch.linalg.cholesky(system)
        target = self.noise_precision * rhs + precision * mean
        centre = torch.cholesky_solve(target[:, :, None], cholesky)[:, :, 0]
        noise = torch.randn(centre.shape, generator=self.generator, dtype=centre.dtype)
        # x = centre + L⁻ᵀ z has covariance (L Lᵀ)⁻¹ = system⁻¹.
        spread = torch.linalg.solve_triangular(cholesky.mT, noise[:, :, None], upper=True)
        return centre + spread[:, :, 0]

    def _sample_prior(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-dimension prior precision λ ~ Gamma and mean μ ~ Normal given the rows."""
        n = len(rows)
        mean = rows.mean(0)
        shape = torch.full((self.dims,), HYPER_SHAPE + (n + 1) / 2, dtype=torch.float64)
        rate = HYPER_RATE + 0.5 * ((rows - mean).square().sum(0) + MEAN_STRENGTH * mean.square())
        precision = self._gamma(shape, rate)
        centre = rows.sum(0) / (n + MEAN_STRENGTH)
        spread = torch.randn(self.dims, generator=self.generator, dtype=torch.float64)
        return centre + spread / ((n + MEAN_STRENGTH) * precision).sqrt(), precision

    def sample_noise(self, ratings: _Ratings, users: torch.Tensor, items: torch.Tensor) -> None:
        """Noise precision α ~ Gamma given the residuals of the current sample."""
        if self.fixed_noise:
            return
        squared = _train_mse(ratings, users, items) * len(ratings.centred)
        shape = torch.tensor([HYPER_SHAPE + len(ratings.centred) / 2], dtype=torch.float64)
        rate = torch.tensor([HYPER_RATE + squared / 2], dtype=torch.float64)
        self.noise_precision = float(self._gamma(shape, rate)[0])

    def _gamma(self, shape: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        # torch's Gamma sampler takes no generator: draw with numpy, seeded from ours.
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator))
        draws = np.random.default_rng(seed).standard_gamma(shape.numpy())
        return torch.from_numpy(np.asarray(draws, dtype=np.float64)) / rate

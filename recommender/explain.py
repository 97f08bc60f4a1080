"""Why an item is recommended, and which items go together. Django-free.

Every model is read through one small view, :class:`ItemRelation`: how strongly item *i* points
to item *j*. Where a model has one, the relation is the model's own:

- item-item models (``itemknn``'s sparse similarity, ``ease``'s weight matrix ``B``): the
  score of *j* for a history *H* is ``sum(S[h, j] for h in H)``, so ``S[h, j]`` is exactly
  how much rating *h* contributed to recommending *j*;
- embedding models (``bpr``, ``ncf`` and anything with item ``nn.Embedding`` tables or an
  ``item_embeddings()`` method): the cosine of the two items' embeddings.

Models with neither (``popularity``) are explained from co-occurrence: the cosine of the two
items' rater sets (:class:`CooccurrenceRelation`), which the caller builds from interactions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Models whose scores ignore the rater: their reason is popularity, not the rater's history.
NON_PERSONALISED = frozenset({"popularity"})


class ItemRelation(ABC):
    """How strongly one item points to another (higher: more related)."""

    n_items: int

    @abstractmethod
    def weights(self, sources: np.ndarray, target: int) -> np.ndarray:
        """float64, shape (len(sources),): how much each source item points to ``target``."""

    @abstractmethod
    def row(self, source: int) -> np.ndarray:
        """float64, shape (n_items,): how much ``source`` points to every item."""

    def block(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """float64, shape (len(sources), len(targets)): ``weights`` for many targets at once."""
        columns = [self.weights(sources, int(t)) for t in np.asarray(targets, dtype=np.int64)]
        return np.stack(columns, axis=1) if columns else np.zeros((len(sources), 0))


class MatrixRelation(ItemRelation):
    """A square item-item matrix ``S`` (dense or sparse) with ``S[i, j]``: i's vote for j."""

    def __init__(self, matrix: np.ndarray | sp.spmatrix) -> None:
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"an item-item matrix must be square, got {matrix.shape}")
        self.matrix = sp.csc_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix)
        self.rows = sp.csr_matrix(matrix) if sp.issparse(matrix) else self.matrix
        self.n_items = int(matrix.shape[0])

    def weights(self, sources: np.ndarray, target: int) -> np.ndarray:
        column = self.matrix[:, target]
        column = column.toarray().ravel() if sp.issparse(column) else np.asarray(column)
        return column[np.asarray(sources, dtype=np.int64)].astype(np.float64)

    def row(self, source: int) -> np.ndarray:
        values = self.rows[source]
        values = values.toarray().ravel() if sp.issparse(values) else np.asarray(values)
        return values.astype(np.float64)

    def block(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        picked = self.rows[np.asarray(sources, dtype=np.int64)][:, np.asarray(targets, np.int64)]
        picked = picked.toarray() if sp.issparse(picked) else np.asarray(picked)
        return picked.astype(np.float64)


class CosineRelation(ItemRelation):
    """Cosine similarity of item vectors (rows of ``vectors``, dense or sparse)."""

    def __init__(self, vectors: np.ndarray | sp.spmatrix) -> None:
        if sp.issparse(vectors):
            vectors = sp.csr_matrix(vectors, dtype=np.float64)
            norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
            scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            self.unit: np.ndarray | sp.csr_matrix = sp.diags(scale) @ vectors
        else:
            vectors = np.asarray(vectors, dtype=np.float64)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self.unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        self.n_items = int(vectors.shape[0])

    def weights(self, sources: np.ndarray, target: int) -> np.ndarray:
        return self._dots(self.unit[np.asarray(sources, dtype=np.int64)], target)

    def row(self, source: int) -> np.ndarray:
        return self._dots(self.unit, source)

    def block(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        left = self.unit[np.asarray(sources, dtype=np.int64)]
        product = left @ self.unit[np.asarray(targets, dtype=np.int64)].T
        product = product.toarray() if sp.issparse(product) else np.asarray(product)
        return product.astype(np.float64)

    def _dots(self, block: Any, other: int) -> np.ndarray:
        product = block @ self.unit[other].T
        product = product.toarray() if sp.issparse(product) else np.asarray(product)
        return product.ravel().astype(np.float64)


class CooccurrenceRelation(CosineRelation):
    """Items are related when the same raters rated them: cosine of the item columns.

    Args:
        interactions: raters × items matrix (any values; non-zero means "rated").
    """

    def __init__(self, interactions: sp.spmatrix) -> None:
        binary = sp.csr_matrix(interactions, dtype=np.float64, copy=True)
        binary.data[:] = 1.0
        super().__init__(binary.T.tocsr())


def item_relation(model: Any) -> ItemRelation | None:
    """The model's own item-item view, or None when it has none (e.g. popularity)."""
    n_items = int(getattr(model, "n_items", 0))
    for name in ("similarity", "weights"):
        matrix = getattr(model, name, None)
        if (sp.issparse(matrix) or isinstance(matrix, np.ndarray)) and matrix.shape == (
            n_items,
            n_items,
        ):
            return MatrixRelation(matrix)
    embeddings = item_embeddings(model)
    return CosineRelation(embeddings) if embeddings is not None else None


def item_embeddings(model: Any) -> np.ndarray | None:
    """Item embeddings, shape (n_items, f), or None.

    A model may provide ``item_embeddings()``; otherwise every ``nn.Embedding`` of its ``net``
    whose name mentions "item" and that has one row per item (and more than one column, so
    biases are left out) is unit-normalised and concatenated, e.g. NeuMF's GMF and MLP tables.
    """
    provider = getattr(model, "item_embeddings", None)
    if callable(provider):
        return np.asarray(provider(), dtype=np.float64)
    n_items = int(getattr(model, "n_items", 0))
    # LightGCN keeps only its propagated (final) tables once fitted or loaded.
    final = getattr(getattr(model, "embeddings", None), "items", None)
    if final is not None and hasattr(final, "shape") and tuple(final.shape)[:1] == (n_items,):
        return np.asarray(final.detach().cpu().numpy(), dtype=np.float64)
    net = getattr(model, "net", None)
    if net is None or not hasattr(net, "named_modules"):
        return None
    from torch import nn

    tables = []
    for name, module in net.named_modules():
        if (
            isinstance(module, nn.Embedding)
            and "item" in name
            and module.num_embeddings == n_items
            and module.embedding_dim > 1
        ):
            weight = module.weight.detach().cpu().numpy().astype(np.float64)
            norms = np.linalg.norm(weight, axis=1, keepdims=True)
            tables.append(np.divide(weight, norms, out=np.zeros_like(weight), where=norms > 0))
    return np.concatenate(tables, axis=1) if tables else None


def contributing_items(
    relation: ItemRelation, history_idx: np.ndarray, target: int, top: int = 2
) -> np.ndarray:
    """The history items that point most to ``target``, strongest first (only positive ones).

    Ties go to the lower item index, so explanations are deterministic.
    """
    history_idx = np.asarray(history_idx, dtype=np.int64)
    history_idx = history_idx[(history_idx >= 0) & (history_idx != target)]
    if history_idx.size == 0:
        return np.empty(0, dtype=np.int64)
    weights = relation.weights(history_idx, target)
    order = np.lexsort((history_idx, -weights))[:top]
    return history_idx[order][weights[order] > 0]


def contributing_items_many(
    relation: ItemRelation, history_idx: np.ndarray, targets: np.ndarray, top: int = 2
) -> list[np.ndarray]:
    """:func:`contributing_items` for every target, from one ``block`` of the relation.

    The same answer, target by target, as calling it once per target (and, for item-kNN, as
    its own ``explain``: both read ``S[h, target]`` over the history), but the model is asked
    once per list, which keeps a served list's reasons to one matrix product.
    """
    history_idx = np.unique(np.asarray(history_idx, dtype=np.int64))
    history_idx = history_idx[history_idx >= 0]
    targets = np.asarray(targets, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    if history_idx.size == 0:
        return [empty for _ in targets]
    known = targets >= 0
    weights = np.zeros((history_idx.size, targets.size))
    weights[:, known] = relation.block(history_idx, targets[known])
    found = []
    for column, target in enumerate(targets.tolist()):
        if target < 0:
            found.append(empty)
            continue
        strength = np.where(history_idx == target, -np.inf, weights[:, column])
        order = np.lexsort((history_idx, -strength))[:top]
        found.append(history_idx[order][strength[order] > 0])
    return found


def most_similar(
    relation: ItemRelation, item_idx: int, n: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` items ``item_idx`` points to most (itself and ``exclude`` left out).

    Returns:
        int64 item indices and float64 strengths, best first; only positive strengths.
    """
    scores = relation.row(item_idx).copy()
    scores[item_idx] = -np.inf
    if exclude is not None and len(exclude):
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))[:n]
    keep = scores[order] > 0
    return order[keep].astype(np.int64), scores[order][keep]


def because_text(titles: list[str]) -> str:
    """ "Because you rated “A” and “B”" for up to three titles; "" for none."""
    quoted = [f"“{t}”" for t in titles]
    if not quoted:
        return ""
    if len(quoted) == 1:
        return f"Because you rated {quoted[0]}"
    return f"Because you rated {', '.join(quoted[:-1])} and {quoted[-1]}"


def explaining_items(
    model: Any, relation: ItemRelation, history_idx: np.ndarray, target: int, top: int = 2
) -> np.ndarray:
    """The history items behind ``target``: the model's own ``explain`` where it has one
    (item-kNN), otherwise :func:`contributing_items` over ``relation``."""
    own = getattr(model, "explain", None)
    if callable(own):
        history_idx = np.unique(np.asarray(history_idx, dtype=np.int64))
        history_idx = history_idx[history_idx >= 0]
        row = sp.csr_matrix(
            (np.ones(len(history_idx)), (np.zeros(len(history_idx), dtype=np.int64), history_idx)),
            shape=(1, relation.n_items),
        )
        return np.asarray(own(row, target, top=top), dtype=np.int64)
    return contributing_items(relation, history_idx, target, top)


def cooccurrence_cosine(
    shared: np.ndarray, source_count: int, target_counts: np.ndarray
) -> np.ndarray:
    """Cosine of rater sets from counts: ``|A ∩ B| / sqrt(|A| · |B|)`` (0 where a set is empty).

    Args:
        shared: raters who interacted with both the source and each target, shape (t,).
        source_count: raters of the source item.
        target_counts: raters of each target item, shape (t,).
    """
    denominator = np.sqrt(float(source_count) * np.asarray(target_counts, dtype=np.float64))
    shared = np.asarray(shared, dtype=np.float64)
    return np.divide(shared, denominator, out=np.zeros_like(shared), where=denominator > 0)

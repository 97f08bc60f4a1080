"""A content model for cold-start items: a 1-D CNN over title tokens plus genre flags.

Item i is represented by ``v_i = c_i + m_i · q_i`` with bias ``b_i = β(content_i) + m_i · β_i``:
``c_i``/``β(content_i)`` come from its content (a CNN over its title and description tokens,
max-pooled over time, concatenated with its genre flags and projected to ``factors``), and
``q_i``/``β_i`` are a free id embedding and bias. score(u, i) = p_u · v_i + b_i. Training is BPR
end to end (observed pairs against uniform random negatives).

Cold items and the id. ``m_i`` is 0 for every item without training interactions, so a cold
item's score is a function of its content alone; its index, and therefore its id, never
enters. During training ``m_i`` is dropped to 0 at random with probability ``id_dropout``
(DropoutNet, Volkovs et al., NeurIPS 2017), so that the content path alone must rank well
rather than lean on the id. Negatives are drawn from items with training interactions only:
sampling cold items as negatives would teach the model that exactly the held-out contents are
bad, which is a leak of the split, not a property of the content.

Item content comes from ``Interactions.item_features``: a frame indexed by item id with
``title`` (str), ``genres`` (list of str) and optionally ``description`` (str). Every item of the
interaction vocabulary is looked up there, so cold items become candidates by being in the item
vocabulary with no interactions (``recommender.evaluation.coldstart.new_items_interactions``
builds such a vocabulary over the whole catalogue). Items outside the vocabulary, added after
training, are scored from a feature frame with :meth:`TextCNN.score_content`. Without item
features every item has the same empty content and the model reduces to BPR-MF with a shared
content offset.

The tokeniser is our own (lower-cased ASCII words; a trailing "(1995)" becomes ``<year:1995>``
and ``<decade:1990>``), and the token vocabulary is built from the items *with* training
interactions only (tokens seen on at least ``min_token_count`` of them), so an embedding row
exists only for tokens the model learned; other tokens map to ``<unk>``. Tokens, genres and the
per-item token matrix are saved in the state as plain lists and tensors.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recommender.algorithms.base import (
    AlgorithmConfig,
    EpochCallback,
    Recommender,
    TrainOptions,
    check_range,
)
from recommender.data import Interactions, UserBatch
from recommender.training import TrainContext, fold_in, prepare, run_epochs

logger = logging.getLogger(__name__)

PAD, UNK, START = "<pad>", "<unk>", "<item>"
_WORD = re.compile(r"[a-z0-9]+")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def tokenize(title: str, description: str = "") -> list[str]:
    """Lower-cased ASCII word tokens; a trailing "(YYYY)" becomes year and decade tokens."""
    text = unicodedata.normalize("NFKD", str(title)).encode("ascii", "ignore").decode().lower()
    tokens = [START]
    match = _YEAR.search(text)
    if match:
        year = int(match.group(1))
        tokens += [f"<year:{year}>", f"<decade:{year // 10 * 10}>"]
        text = text[: match.start()]
    tokens += _WORD.findall(text)
    if description:
        plain = unicodedata.normalize("NFKD", str(description)).encode("ascii", "ignore").decode()
        tokens += ["<description>", *_WORD.findall(plain.lower())]
    return tokens


@dataclass(frozen=True)
class TextCNNConfig(AlgorithmConfig):
    """TextCNN hyper-parameters.

    Chosen on an inner new-items split of ML-100K, never on the protocol's held-out items:
    the training part of the new-items split, with 10% of *its* items held out (seed 7; 151
    candidates, 937 users; genre-profile cosine 0.118 NDCG@10 there). ``bench/coldstart.py
    DIR --inner --text-cnn JSON`` reproduces a point. Inner NDCG@10 (batch 4096): 32 factors
    × 5/10/20/40 epochs 0.329/0.307/0.297/0.293 (it over-fits the 1.5k training titles
    quickly); 64 factors × 5/10 epochs 0.347/0.346, 128 factors 0.302; at 64 × 10: id dropout
    0 0.353, weight decay 1e-4 0.353 (chosen), 64-dim tokens and filters 0.300, kernels up to
    2 only 0.337; content dropout 0.5 and lr 0.01 lost (0.293/0.290 at 32 × 20). Fields
    marked "not searched" keep the usual values.
    """

    # Dimensions of user, id and content vectors; 16-128 (searched: 32, 64, 128).
    factors: int = 64
    # Dimensions of a token embedding; 8-128 (searched: 32, 64).
    token_dim: int = 32
    # Filters per kernel width; 16-256 (searched: 32, 64).
    channels: int = 32
    # Kernel widths 1..max_kernel over the token sequence; 1-5, titles are 2-8 words
    # (searched: 2, 3).
    max_kernel: int = 3
    # Tokens kept per item (title first, then description); 8-256 (not searched: ML-100K
    # titles need at most 18).
    max_tokens: int = 32
    # A token joins the vocabulary when at least this many training items have it; 1-10
    # (not searched: a token on one title only teaches that title).
    min_token_count: int = 2
    # Dropout on the pooled content features during training; 0-0.7 (searched: 0.3, 0.5).
    dropout: float = 0.3
    # Probability that a training item's id embedding is hidden, so the content path learns to
    # rank alone; 0 (warm-only use) to 1 (pure content model) (searched: 0, 0.5, 1; 0 and 0.5
    # tie, 0.5 kept because it does not let the content path lean on ids).
    id_dropout: float = 0.5
    # Passes over the observed pairs; 5-200 (searched: 5-40).
    epochs: int = 10
    # Observed pairs per Adam step; 256-16384 (searched: 2048, 4096). Each step encodes
    # every item in the batch, so larger batches are cheaper per epoch.
    batch_size: int = 4096
    # Adam learning rate; 1e-4-0.05 (searched: 0.005, 0.01).
    lr: float = 0.005
    # L2 weight on the user and id vectors of each batch; 0-1e-2 (not searched).
    reg: float = 1e-4
    # Adam weight decay on the content network; 0-1e-2 (searched: 1e-5, 1e-4).
    weight_decay: float = 1e-4
    # Random negative items per observed pair; 1-16 (not searched).
    negatives: int = 1
    # Early-stopping patience in epochs on val_ndcg_at_10 (with validation data); 0 = off.
    patience: int = 0
    # Adam steps that fit an unknown user's vector to their history at scoring time; 0-500
    # (not searched).
    fold_in_steps: int = 50
    # Learning rate of those fold-in steps; 1e-3-0.5 (not searched).
    fold_in_lr: float = 0.05

    def validate(self) -> None:
        check_range("factors", self.factors, 1, 4096)
        check_range("token_dim", self.token_dim, 1, 4096)
        check_range("channels", self.channels, 1, 4096)
        check_range("max_kernel", self.max_kernel, 1, 16)
        check_range("max_tokens", self.max_tokens, self.max_kernel, 4096)
        check_range("min_token_count", self.min_token_count, 1, 1_000_000)
        check_range("dropout", self.dropout, 0.0, 0.95)
        check_range("id_dropout", self.id_dropout, 0.0, 1.0)
        check_range("epochs", self.epochs, 1, 100_000)
        check_range("batch_size", self.batch_size, 1, 1 << 22)
        check_range("lr", self.lr, 1e-7, 10.0)
        check_range("reg", self.reg, 0.0, 10.0)
        check_range("weight_decay", self.weight_decay, 0.0, 10.0)
        check_range("negatives", self.negatives, 1, 1024)
        check_range("patience", self.patience, 0, 100_000)
        check_range("fold_in_steps", self.fold_in_steps, 0, 100_000)
        check_range("fold_in_lr", self.fold_in_lr, 1e-7, 10.0)


@dataclass(frozen=True)
class ItemContent:
    """Items' content as tensors.

    Attributes:
        tokens: int64 (n, max_tokens) token ids, 0-padded.
        genres: float32 (n, n_genres) multi-hot flags.
    """

    tokens: torch.Tensor
    genres: torch.Tensor


class ContentVocabulary:
    """The token and genre vocabularies; turns a feature frame into :class:`ItemContent`."""

    def __init__(self, tokens: list[str], genres: list[str], max_tokens: int) -> None:
        self.tokens = tokens
        self.genres = genres
        self.max_tokens = max_tokens
        self._token_index = {token: idx for idx, token in enumerate(tokens)}
        self._genre_index = {genre: idx for idx, genre in enumerate(genres)}

    @classmethod
    def build(cls, frame: pd.DataFrame, min_count: int, max_tokens: int) -> ContentVocabulary:
        """Vocabularies of the items in ``frame`` (the training items), in sorted order."""
        counts = Counter(token for tokens in _token_lists(frame) for token in set(tokens))
        tokens = sorted(token for token, count in counts.items() if count >= min_count)
        genres = sorted({genre for genres in _genre_lists(frame) for genre in genres})
        return cls([PAD, UNK, *[t for t in tokens if t not in (PAD, UNK)]], genres, max_tokens)

    def encode(self, frame: pd.DataFrame) -> ItemContent:
        """Content of each row of ``frame`` (see :func:`content_frame`)."""
        unk = self._token_index[UNK]
        lists = _token_lists(frame)
        # As wide as the longest item needs (titles are short), so convolutions stay cheap.
        width = min(self.max_tokens, max((len(words) for words in lists), default=1))
        tokens = np.zeros((len(frame), width), dtype=np.int64)
        for row, words in enumerate(lists):
            ids = [self._token_index.get(word, unk) for word in words[: self.max_tokens]]
            tokens[row, : len(ids)] = ids
        genres = np.zeros((len(frame), len(self.genres)), dtype=np.float32)
        for row, names in enumerate(_genre_lists(frame)):
            genres[row, [self._genre_index[g] for g in names if g in self._genre_index]] = 1.0
        return ItemContent(torch.as_tensor(tokens), torch.as_tensor(genres))


def content_frame(features: pd.DataFrame | None, item_ids: list[str]) -> pd.DataFrame:
    """``title``, ``genres``, ``description`` for ``item_ids`` in order; missing → empty."""
    frame = pd.DataFrame(index=pd.Index(item_ids, dtype=object))
    source = features.copy() if features is not None else pd.DataFrame()
    source.index = source.index.astype(str)
    for column in ("title", "genres", "description"):
        values = source[column] if column in source else pd.Series(dtype=object)
        frame[column] = values.reindex(item_ids).to_numpy(dtype=object)
    return frame


def _token_lists(frame: pd.DataFrame) -> list[list[str]]:
    return [
        tokenize(_text(title), _text(description))
        for title, description in zip(frame["title"], frame["description"], strict=True)
    ]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _genre_lists(frame: pd.DataFrame) -> list[list[str]]:
    return [
        [str(g) for g in value] if isinstance(value, list | tuple | np.ndarray) else []
        for value in frame["genres"]
    ]


class TextCNNNet(nn.Module):
    """User vectors, item id vectors and biases, and the content encoder."""

    def __init__(
        self, n_users: int, n_items: int, n_tokens: int, n_genres: int, cfg: TextCNNConfig
    ):
        super().__init__()
        self.user = nn.Embedding(n_users, cfg.factors)
        self.item = nn.Embedding(n_items, cfg.factors)
        self.item_bias = nn.Embedding(n_items, 1)
        self.token = nn.Embedding(n_tokens, cfg.token_dim, padding_idx=0)
        # Kernel of width w: a linear map over each window of w token embeddings, the maths of
        # nn.Conv1d, evaluated in :meth:`_convolve` without materialising the windows.
        self.convs = nn.ModuleList(
            nn.Linear(width * cfg.token_dim, cfg.channels) for width in range(1, cfg.max_kernel + 1)
        )
        width = cfg.channels * cfg.max_kernel + n_genres
        self.dropout = nn.Dropout(cfg.dropout)
        self.project = nn.Linear(width, cfg.factors)
        self.content_bias = nn.Linear(width, 1)
        for table in (self.user, self.item):
            nn.init.normal_(table.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)

    def content(
        self, tokens: torch.Tensor, genres: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Content vectors (n, factors) and biases (n,) from tokens (n, L) and genres (n, g)."""
        short = len(self.convs) - tokens.shape[1]
        if short > 0:  # the widest kernel needs at least its width of (padding) tokens
            tokens = F.pad(tokens, (0, short))
        pooled = [F.relu(self._convolve(tokens, conv)).max(dim=1).values for conv in self.convs]
        features = self.dropout(torch.cat([*pooled, genres], dim=1))
        return self.project(features), self.content_bias(features)[:, 0]

    def _convolve(self, tokens: torch.Tensor, conv: nn.Linear) -> torch.Tensor:
        """Kernel outputs (n, L - w + 1, channels) for token ids (n, L), w = kernel width.

        Σ_o W_o · E[t_(p+o)] = Σ_o (E W_oᵀ)[t_(p+o)]: project the (small) token table once per
        offset o, then gather rows. On CPU this is several times faster than nn.Conv1d or an
        unfold + matmul, whose backward passes dominate for ~1,500 short titles per batch.
        """
        channels, width = conv.out_features, conv.in_features // self.token.embedding_dim
        kernels = conv.weight.view(channels, width, -1)  # (c, w, token_dim)
        tables = torch.einsum("vd,cwd->wvc", self.token.weight, kernels)  # (w, V, c)
        positions = tokens.shape[1] - width + 1
        out = conv.bias
        for offset in range(width):
            out = out + F.embedding(tokens[:, offset : offset + positions], tables[offset])
        return out


class TextCNN(Recommender):
    """BPR-trained user vectors against item vectors built from content (plus ids when warm)."""

    name: ClassVar[str] = "text_cnn"
    uses_item_content: ClassVar[bool] = True
    config_class: ClassVar[type[AlgorithmConfig]] = TextCNNConfig
    trains_in_epochs: ClassVar[bool] = True
    contract_config: ClassVar[dict[str, Any]] = {
        "factors": 16,
        "token_dim": 8,
        "channels": 8,
        "epochs": 80,
        "batch_size": 256,
        "lr": 0.05,
        "id_dropout": 0.0,
    }
    config: TextCNNConfig

    def __init__(self, config: TextCNNConfig | None = None) -> None:
        super().__init__(config)
        self.net: TextCNNNet | None = None
        self.vocabulary: ContentVocabulary | None = None
        self.content_data: ItemContent | None = None
        self.warm: torch.Tensor | None = None
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        options = options or TrainOptions()
        ctx = prepare(options)
        cfg = self.config
        self.n_users, self.n_items = data.n_users, data.n_items
        content = content_frame(data.item_features, data.items.ids())
        self.warm = torch.as_tensor(data.item_popularity() > 0)
        self.vocabulary = ContentVocabulary.build(
            content[self.warm.numpy()], cfg.min_token_count, cfg.max_tokens
        )
        self.content_data = self.vocabulary.encode(content)
        logger.info(
            "text_cnn: %d tokens, %d genres, %d of %d items warm",
            len(self.vocabulary.tokens), len(self.vocabulary.genres),
            int(self.warm.sum()), self.n_items,
        )  # fmt: skip
        self.net = self._build_net().to(ctx.device)
        self._train(data, ctx, options, on_epoch)

    def _build_net(self) -> TextCNNNet:
        assert self.vocabulary is not None
        return TextCNNNet(
            self.n_users,
            self.n_items,
            len(self.vocabulary.tokens),
            len(self.vocabulary.genres),
            self.config,
        )

    def _train(
        self,
        data: Interactions,
        ctx: TrainContext,
        options: TrainOptions,
        on_epoch: EpochCallback | None,
    ) -> None:
        net, cfg = self._require_fitted(), self.config
        content = self._content_on(ctx.device)
        warm_items = torch.nonzero(self.warm).ravel().to(ctx.device)
        matrix = data.matrix(binary=True).tocoo()
        users = torch.as_tensor(matrix.row, dtype=torch.int64, device=ctx.device)
        items = torch.as_tensor(matrix.col, dtype=torch.int64, device=ctx.device)
        optimizer = torch.optim.Adam(
            [
                {"params": [net.user.weight, net.item.weight, net.item_bias.weight]},
                {"params": self._content_parameters(net), "weight_decay": cfg.weight_decay},
            ],
            lr=cfg.lr,
        )

        def train_epoch(epoch: int) -> float:
            self._cache = None
            total, batches = 0.0, 0
            for index in ctx.batches(len(users), cfg.batch_size):
                pick = torch.randint(
                    len(warm_items), (len(index), cfg.negatives),
                    generator=ctx.generator, device=ctx.device,
                )  # fmt: skip
                optimizer.zero_grad()
                loss = self._batch_loss(
                    net, content, ctx, users[index], items[index], warm_items[pick]
                )
                loss.backward()
                optimizer.step()
                total, batches = total + float(loss.detach()), batches + 1
            self._cache = None
            net.eval()
            return total / max(batches, 1)

        run_epochs(
            self, net, train_epoch, epochs=cfg.epochs, options=options,
            on_epoch=on_epoch, patience=cfg.patience,
        )  # fmt: skip
        net.eval()
        self._cache = None

    @staticmethod
    def _content_parameters(net: TextCNNNet) -> list[nn.Parameter]:
        skip = {id(net.user.weight), id(net.item.weight), id(net.item_bias.weight)}
        return [p for p in net.parameters() if id(p) not in skip]

    def _batch_loss(
        self,
        net: TextCNNNet,
        content: ItemContent,
        ctx: TrainContext,
        users: torch.Tensor,
        positives: torch.Tensor,
        negatives: torch.Tensor,
    ) -> torch.Tensor:
        """BPR loss; users/positives int64 (b,), negatives int64 (b, k)."""
        net.train()
        items = torch.cat([positives[:, None], negatives], dim=1)  # (b, 1 + k)
        unique, inverse = torch.unique(items, return_inverse=True)
        vectors, biases = net.content(content.tokens[unique], content.genres[unique])
        keep = torch.rand(len(unique), generator=ctx.generator, device=ctx.device)
        keep = (keep >= self.config.id_dropout).float()[:, None]
        ids = net.item(unique)
        vectors = vectors + keep * ids
        biases = biases + keep[:, 0] * net.item_bias(unique)[:, 0]
        u = net.user(users)
        scores = torch.bmm(vectors[inverse], u[:, :, None])[:, :, 0] + biases[inverse]
        ranking = F.softplus(scores[:, 1:] - scores[:, :1]).mean()
        penalty = u.square().sum(1).mean() + (keep * ids.square()).sum() / len(users)
        return ranking + self.config.reg * penalty

    def _content_on(self, device: torch.device) -> ItemContent:
        assert self.content_data is not None
        return ItemContent(self.content_data.tokens.to(device), self.content_data.genres.to(device))

    @torch.no_grad()
    def item_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every vocabulary item's vector (n_items, factors) and bias (n_items,), ids masked
        for cold items."""
        if self._cache is None:
            net = self._require_fitted()
            device = net.item.weight.device
            content = self._content_on(device)
            net.eval()
            vectors, biases = net.content(content.tokens, content.genres)
            warm = self.warm.to(device).float()  # type: ignore[union-attr]
            vectors = vectors + warm[:, None] * net.item.weight
            biases = biases + warm * net.item_bias.weight[:, 0]
            self._cache = (vectors, biases)
        return self._cache

    def score(self, batch: UserBatch) -> np.ndarray:
        vectors, biases = self.item_vectors()
        with torch.no_grad():
            users = self._user_vectors(batch, vectors, biases)
            return (users @ vectors.T + biases).cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def score_content(self, batch: UserBatch, features: pd.DataFrame) -> np.ndarray:
        """Scores of arbitrary items from their content alone, float32 (b, len(features)).

        ``features`` has the columns of ``Interactions.item_features``, one row per item, in
        the order of the returned columns. Use it for items added after training.
        """
        vectors, biases = self.content_vectors(features)
        users = self._user_vectors(batch, *self.item_vectors())
        return (users @ vectors.T + biases).cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def content_vectors(self, features: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors (len(features), factors) and biases of arbitrary items from content alone."""
        net = self._require_fitted()
        assert self.vocabulary is not None
        frame = content_frame(features, [str(i) for i in features.index])
        content = self.vocabulary.encode(frame)
        device = net.item.weight.device
        net.eval()
        return net.content(content.tokens.to(device), content.genres.to(device))

    def _user_vectors(
        self, batch: UserBatch, vectors: torch.Tensor, biases: torch.Tensor
    ) -> torch.Tensor:
        net = self._require_fitted()
        device = net.user.weight.device
        user_idx = torch.as_tensor(batch.user_idx, dtype=torch.int64, device=device)
        known = user_idx >= 0
        result = torch.zeros(len(user_idx), self.config.factors, device=device)
        result[known] = net.user(user_idx[known])
        if not bool(known.all()):
            unknown = (~known).nonzero().ravel()
            history = batch.history[unknown.cpu().numpy()]
            result[unknown] = self._fold_in(history, vectors, biases)
        return result

    def _fold_in(
        self, history: sp.csr_matrix, vectors: torch.Tensor, biases: torch.Tensor
    ) -> torch.Tensor:
        """New users' vectors fitted with BPR on their history, items frozen (zeros if empty)."""
        reg = self.config.reg

        def loss_fn(params, rows, positives, negatives):  # noqa: ANN001, ANN202 - see fold_in
            users = params[0][rows]
            margin = (users * (vectors[positives] - vectors[negatives])).sum(1)
            margin = margin + biases[positives] - biases[negatives]
            return (-F.logsigmoid(margin)).mean() + reg * users.square().sum(1).mean()

        start = torch.zeros(history.shape[0], self.config.factors, device=vectors.device)
        (fitted,) = fold_in(
            loss_fn, [start], history, steps=self.config.fold_in_steps, lr=self.config.fold_in_lr
        )
        return fitted

    def get_state(self) -> dict[str, Any]:
        net = self._require_fitted()
        assert self.vocabulary is not None
        assert self.content_data is not None
        return {
            "net": {key: value.detach().cpu() for key, value in net.state_dict().items()},
            "tokens": list(self.vocabulary.tokens),
            "genres": list(self.vocabulary.genres),
            "item_tokens": self.content_data.tokens.cpu(),
            "item_genres": self.content_data.genres.cpu(),
            "warm": self.warm.cpu(),  # type: ignore[union-attr]
        }

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> TextCNN:
        assert isinstance(config, TextCNNConfig)
        model = cls(config)
        model.vocabulary = ContentVocabulary(
            list(state["tokens"]), list(state["genres"]), config.max_tokens
        )
        model.content_data = ItemContent(state["item_tokens"], state["item_genres"])
        model.warm = state["warm"]
        model.n_users = state["net"]["user.weight"].shape[0]
        model.n_items = state["net"]["item.weight"].shape[0]
        model.net = model._build_net()
        model.net.load_state_dict(state["net"])
        model.net.eval()
        return model

    def _require_fitted(self) -> TextCNNNet:
        if self.net is None:
            raise RuntimeError("TextCNN is not fitted")
        return self.net

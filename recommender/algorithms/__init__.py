"""The algorithm registry: one line per algorithm (DESIGN.md, convention 7).

To add an algorithm, write its module (a config dataclass and a :class:`Recommender` subclass
whose ``name`` is the registry key), import the class here and add one line to
:data:`ALGORITHMS`. The contract suite in ``tests/recommender/algorithms/test_contract.py``
picks it up from this dict. Algorithm modules import only ``base`` and ``data``, never this
package's registry, so each can be imported and tested on its own; a model built on another
(``ease_mix`` on ``ease``) imports that module's public functions rather than copying them.
"""

from __future__ import annotations

from recommender.algorithms.base import Recommender
from recommender.algorithms.biased_mf import BiasedMF
from recommender.algorithms.bpr import BPRMF
from recommender.algorithms.ease import EASE
from recommender.algorithms.ease_mix import EASEMix
from recommender.algorithms.gru4rec import GRU4Rec
from recommender.algorithms.itemknn import ItemKNN
from recommender.algorithms.lightgcn import LightGCN
from recommender.algorithms.ncf import NCF
from recommender.algorithms.popularity import Popularity
from recommender.algorithms.sasrec import SASRec
from recommender.algorithms.side_features import SideFeatures
from recommender.algorithms.text_cnn import TextCNN

ALGORITHMS: dict[str, type[Recommender]] = {
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "ease": EASE,
    "ease_mix": EASEMix,
    "bpr": BPRMF,
    "ncf": NCF,
    "biased_mf": BiasedMF,
    "gru4rec": GRU4Rec,
    "sasrec": SASRec,
    "lightgcn": LightGCN,
    "text_cnn": TextCNN,
    "side_features": SideFeatures,
}


class UnknownAlgorithm(KeyError):
    """No algorithm is registered under the requested name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        # KeyError would print the repr of its argument; say what is known instead.
        return f"unknown algorithm {self.name!r}; known: {', '.join(sorted(ALGORITHMS))}"


def get_algorithm(name: str) -> type[Recommender]:
    """The Recommender class registered as ``name``; raises :class:`UnknownAlgorithm`."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnknownAlgorithm(name) from None

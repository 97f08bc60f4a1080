"""Artifacts: a plain dict on disk, loaded with weights_only, written atomically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from recommender import artifacts
from recommender.algorithms import ALGORITHMS, UnknownAlgorithm
from recommender.algorithms.base import AlgorithmConfig, ConfigError, Recommender
from recommender.artifacts import ArtifactError, load_artifact, save_artifact
from recommender.data import Vocabulary

USERS = Vocabulary(["u1", "u2"])
ITEMS = Vocabulary(["a", "b", "c"])


@dataclass(frozen=True)
class StubConfig(AlgorithmConfig):
    # A made-up hyper-parameter, to see the config travel.
    size: int = 3


class Stub(Recommender):
    """Keeps whatever state it is given, to exercise the state conversions."""

    name: ClassVar[str] = "stub"
    config_class: ClassVar[type[AlgorithmConfig]] = StubConfig

    def __init__(self, config: AlgorithmConfig | None = None, state: Any = None) -> None:
        super().__init__(config)
        self.state = state

    def fit(self, data, options=None, on_epoch=None) -> None:
        pass

    def score(self, batch):
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        return self.state

    @classmethod
    def from_state(cls, config, state):
        return cls(config, state)


@pytest.fixture(autouse=True)
def stub_registered(monkeypatch):
    monkeypatch.setitem(ALGORITHMS, "stub", Stub)


def test_artifact_is_a_plain_dict_readable_with_weights_only(tmp_path):
    path = tmp_path / "model.pt"
    model = Stub(StubConfig(size=5), {"weights": np.ones(2, dtype=np.float32)})

    save_artifact(model, USERS, ITEMS, path, metrics={"ndcg_at_10": np.float64(0.5)})

    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format_version"] == artifacts.FORMAT_VERSION
    assert payload["algorithm"] == "stub"
    assert payload["config"] == {"size": 5}
    assert payload["users"] == ["u1", "u2"]
    assert payload["items"] == ["a", "b", "c"]
    assert payload["metrics"] == {"ndcg_at_10": 0.5}
    assert isinstance(payload["state"]["weights"], torch.Tensor)


def test_round_trip_restores_model_vocabularies_metrics_and_state_types(tmp_path):
    # given: numpy arrays (nested too), a tensor, plain numbers
    state = {
        "weights": np.arange(6, dtype=np.float32).reshape(2, 3),
        "nested": {"indices": np.array([1, 2], dtype=np.int64), "tensor": torch.ones(2)},
        "count": np.int64(7),
        "scale": 0.5,
    }
    path = tmp_path / "model.pt"
    # when
    save_artifact(Stub(StubConfig(size=4), state), USERS, ITEMS, path, metrics={"map": 0.1})
    loaded = load_artifact(path)
    # then
    assert loaded.algorithm == "stub"
    assert loaded.config == StubConfig(size=4)
    assert loaded.users == USERS
    assert loaded.items == ITEMS
    assert loaded.metrics == {"map": 0.1}
    restored = loaded.model.state
    assert isinstance(restored["weights"], np.ndarray)
    assert restored["weights"].dtype == np.float32
    np.testing.assert_array_equal(restored["weights"], state["weights"])
    assert restored["nested"]["indices"].tolist() == [1, 2]
    assert isinstance(restored["nested"]["tensor"], torch.Tensor)
    assert restored["count"] == 7
    assert restored["scale"] == 0.5


def test_unknown_format_version_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format_version": 99, "algorithm": "stub"}, path)

    with pytest.raises(ArtifactError, match="format_version 99"):
        load_artifact(path)


def test_a_file_that_is_not_an_artifact_is_refused(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(2), path)

    with pytest.raises(ArtifactError, match="not a RecSite model artifact"):
        load_artifact(path)


def test_unregistered_algorithm_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_artifact(Stub(None, {}), USERS, ITEMS, path)
    monkeypatch.delitem(ALGORITHMS, "stub")

    with pytest.raises(UnknownAlgorithm, match="stub"):
        load_artifact(path)


def test_a_config_that_no_longer_validates_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    save_artifact(Stub(None, {}), USERS, ITEMS, path)
    payload = torch.load(path, weights_only=True)
    payload["config"] = {"size": 3, "removed_option": 1}
    torch.save(payload, path)

    with pytest.raises(ConfigError, match="removed_option"):
        load_artifact(path)


def test_object_arrays_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "model.pt"

    with pytest.raises(ArtifactError, match="object array"):
        save_artifact(Stub(None, {"bad": np.array([{}], dtype=object)}), USERS, ITEMS, path)

    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    # given: an existing artifact
    path = tmp_path / "model.pt"
    save_artifact(Stub(StubConfig(size=1), {}), USERS, ITEMS, path)
    before = path.read_bytes()

    def broken_save(obj, handle):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(artifacts.torch, "save", broken_save)
    # when
    with pytest.raises(OSError, match="disk full"):
        save_artifact(Stub(StubConfig(size=2), {}), USERS, ITEMS, path)
    # then
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_save_creates_missing_directories(tmp_path):
    path = tmp_path / "runs" / "7" / "model.pt"

    save_artifact(Stub(None, {}), USERS, ITEMS, path)

    assert load_artifact(path).algorithm == "stub"

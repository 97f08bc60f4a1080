"""Trained models loaded once per process, and the item relation each one explains with."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from recommender import explain
from recommender.artifacts import LoadedModel, load_artifact
from recommender.models import TrainingRun

_CACHE: dict[tuple[int, str, int], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def loaded_model(run: TrainingRun) -> LoadedModel:
    """The run's artifact, loaded once per process.

    The key includes the file's path and modification time, so a rewritten artifact (or a
    database that reuses run ids, as test databases do) is never served from a stale entry.
    """
    path = Path(settings.MEDIA_ROOT) / run.artifact.name
    key = (run.pk, str(path), path.stat().st_mtime_ns)
    with _CACHE_LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = load_artifact(path)
        return _CACHE[key]


_RELATIONS: dict[int, tuple[object, explain.ItemRelation | None]] = {}


def item_relation(loaded: LoadedModel) -> explain.ItemRelation | None:
    """The model's item relation, built once per loaded model (it normalises every item)."""
    cached = _RELATIONS.get(id(loaded.model))
    if cached is None or cached[0] is not loaded.model:
        with _CACHE_LOCK:
            if len(_RELATIONS) >= _CACHE_SIZE:
                _RELATIONS.pop(next(iter(_RELATIONS)))
            cached = (loaded.model, explain.item_relation(loaded.model))
            _RELATIONS[id(loaded.model)] = cached
    return cached[1]

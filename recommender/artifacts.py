"""Model artifacts: data, not pickles (DESIGN.md, convention 8).

An artifact is one ``torch.save``'d plain dict::

    {
        "format_version": 1,
        "algorithm": "ease",            # registry key
        "config": {...},                # the config dataclass as a dict
        "state": {...},                 # get_state(): tensors, numbers, strings, nested dicts/lists
        "numpy_keys": ["weights", ...], # state entries that were numpy arrays (dotted paths)
        "users": ["u1", ...],           # user vocabulary, index order
        "items": ["i1", ...],           # item vocabulary, index order
        "metrics": {...},               # final evaluation figures, or {}
    }

It loads with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers, so opening an artifact can never run code. NumPy arrays are stored as tensors and
come back as NumPy arrays, so ``get_state``/``from_state`` round-trip exactly.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recommender.algorithms import get_algorithm
from recommender.algorithms.base import AlgorithmConfig, Recommender
from recommender.data import Vocabulary

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


class ArtifactError(ValueError):
    """The file is not an artifact this code can read."""


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model with the vocabularies it was trained with."""

    model: Recommender
    users: Vocabulary
    items: Vocabulary
    metrics: dict[str, float] = field(default_factory=dict)
    algorithm: str = ""
    config: AlgorithmConfig | None = None


def save_artifact(
    model: Recommender,
    users: Vocabulary,
    items: Vocabulary,
    path: str | os.PathLike[str],
    metrics: dict[str, float] | None = None,
) -> None:
    """Write ``model`` and its vocabularies to ``path`` atomically.

    The dict is written to a temporary file in the same directory and moved into place with
    ``os.replace``, so a reader sees the old file or the new one, never half of one.
    """
    numpy_keys: list[str] = []
    payload = {
        "format_version": FORMAT_VERSION,
        "algorithm": model.name,
        "config": model.config.to_dict(),
        "state": _to_torch(model.get_state(), "", numpy_keys),
        "numpy_keys": numpy_keys,
        "users": users.ids(),
        "items": items.ids(),
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file private (0600); an artifact is as readable as any upload.
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("saved %s artifact to %s", model.name, target)


def load_artifact(path: str | os.PathLike[str]) -> LoadedModel:
    """Read an artifact written by :func:`save_artifact` and rebuild its model on the CPU.

    Raises:
        ArtifactError: the file is not a dict artifact or has an unknown ``format_version``.
        UnknownAlgorithm: the algorithm is not registered here.
        ConfigError: the stored config no longer validates.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ArtifactError(f"{path}: not a RecSite model artifact")
    version = payload["format_version"]
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format_version {version!r} is not supported "
            f"(this code reads version {FORMAT_VERSION})"
        )
    model_class = get_algorithm(payload["algorithm"])
    config = model_class.config_class.from_dict(payload["config"])
    state = _to_numpy(payload["state"], "", set(payload["numpy_keys"]))
    return LoadedModel(
        model=model_class.from_state(config, state),
        users=Vocabulary(payload["users"]),
        items=Vocabulary(payload["items"]),
        metrics=dict(payload["metrics"]),
        algorithm=payload["algorithm"],
        config=config,
    )


def _to_torch(value: Any, key: str, numpy_keys: list[str]) -> Any:
    """Replace NumPy arrays and scalars by tensors/numbers, recording where arrays were."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ArtifactError(f"state entry {key!r} is an object array; store numbers")
        numpy_keys.append(key)
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_torch(v, _join(key, k), numpy_keys) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(
            _to_torch(v, _join(key, str(i)), numpy_keys) for i, v in enumerate(value)
        )
    return value


def _to_numpy(value: Any, key: str, numpy_keys: set[str]) -> Any:
    if key in numpy_keys and isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _to_numpy(v, _join(key, k), numpy_keys) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(
            _to_numpy(v, _join(key, str(i)), numpy_keys) for i, v in enumerate(value)
        )
    return value


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)

"""Checkpoints as safetensors + JSON, written so that a kill at any moment loses nothing.

A run folder holds ``checkpoints/<name>/`` folders, each written under a temporary name
and renamed into place whole, and ``run.json``, an atomically replaced pointer to the
latest and the best of them. Weights are safetensors; configuration, vocabulary and
metrics are JSON; optimizer state is its own safetensors + JSON pair. No pickle.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from training import __version__
from training.errors import UserError
from training.fsutil import atomic_output_dir, fsync_dir
from training.model import BERT4Rec, ModelConfig
from training.model_files import (  # noqa: F401  (re-exported: where checkpoints are read and written)
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    META_FILE,
    MODEL_FILE,
    RUN_FILE,
    STATE_FILE,
    STATE_META_FILE,
    check_weights,
    json_bytes,
    read_meta,
    read_run,
    resolve_model_dir,
    vocab_hash,
)


def versions() -> dict:
    return {"animerec": __version__, "torch": torch.__version__, "python": platform.python_version()}


def checkpoint_meta(model_config: ModelConfig, train_config: dict | None, item_ids: np.ndarray, id_space: str, genres: list[str], data: dict | None = None) -> dict:
    """A checkpoint's meta.json, built in one place: format, configurations, vocabulary, data, versions."""
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": model_config.to_dict(),
        "vocab": {"size": int(item_ids.size), "sha256": vocab_hash(item_ids), "item_ids": item_ids.tolist(), "id_space": id_space},
        "genres": genres,
        "versions": versions(),
    }
    if train_config is not None:
        meta["train_config"] = train_config
    if data is not None:
        meta["data"] = data
    return meta


def write_checkpoint(folder: Path, model: BERT4Rec, meta: dict, optimizer: torch.optim.Optimizer | None = None, state: dict | None = None) -> None:
    """Write one checkpoint folder atomically (weights, meta, and optionally training state)."""
    with atomic_output_dir(folder, force=True) as tmp:
        weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": CHECKPOINT_FORMAT})
        (tmp / META_FILE).write_bytes(json_bytes(meta))
        if optimizer is not None:
            tensors, layout = _flatten_optimizer(optimizer)
            save_file(tensors, str(tmp / STATE_FILE))
            (tmp / STATE_META_FILE).write_bytes(json_bytes({**(state or {}), "optimizer": layout}))
    fsync_dir(folder.parent)  # the rename is on disk before anything (run.json) names the folder


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    full = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in full["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": full["param_groups"], "scalars": scalars}


def load_optimizer_state(folder: Path, optimizer: torch.optim.Optimizer, device: str) -> dict:
    """Restore optimizer state from a checkpoint folder; return the rest of its training state."""
    try:
        tensors = load_file(str(folder / STATE_FILE), device=device)
        state = json.loads((folder / STATE_META_FILE).read_text())
    except (OSError, ValueError, SafetensorError, RecursionError) as exc:
        raise UserError(f"{folder}: training state unreadable ({exc}); cannot resume") from None
    try:
        _check_state(state)
        layout = state.pop("optimizer")
        entries: dict[int, dict] = {}
        for name, value in list(tensors.items()) + list(layout["scalars"].items()):
            index, key = name.split(".", 1)
            entries.setdefault(int(index), {})[key] = value
        optimizer.load_state_dict({"state": entries, "param_groups": layout["param_groups"]})
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{folder / STATE_META_FILE}: damaged ({problem:.200}); cannot resume") from None
    return state


def _whole(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_state(state) -> None:
    """Raise ValueError unless ``state`` has the shape ``train()`` writes (a damaged or hand-edited file)."""
    if not isinstance(state, dict):
        raise ValueError("not an object")
    layout, best = state.get("optimizer"), state.get("best")
    if not isinstance(layout, dict) or not isinstance(layout.get("param_groups"), list) or not isinstance(layout.get("scalars"), dict):
        raise ValueError("the optimizer state is missing or malformed")
    if not all(isinstance(group, dict) for group in layout["param_groups"]):
        raise ValueError("the optimizer's parameter groups are malformed")
    for key in ("epoch", "step_in_epoch"):
        if not _whole(state.get(key)):
            raise ValueError(f"{key} is {state.get(key)!r:.40}, not a whole number")
    if not isinstance(state.get("history"), list) or not all(isinstance(entry, dict) for entry in state["history"]):
        raise ValueError("history is not a list of epochs")
    if not isinstance(best, dict) or not (best.get("epoch") is None or _whole(best.get("epoch"), 1)):
        raise ValueError("best is malformed")
    score = best.get("ndcg@10")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or score != score:
        raise ValueError("best ndcg@10 is not a number")
    if not (best.get("name") is None or (isinstance(best["name"], str) and CHECKPOINT_NAME.fullmatch(best["name"]))):
        raise ValueError("best names no checkpoint")


def load_model(path: Path, device: str = "cpu", which: str = "best") -> tuple[BERT4Rec, dict]:
    """Load a model (weights + meta) from a run or checkpoint folder."""
    folder = resolve_model_dir(path, which)
    meta = read_meta(folder)
    config = ModelConfig.from_dict(meta["model_config"])
    try:
        weights = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(folder / MODEL_FILE)).items()}
    except (OSError, SafetensorError) as exc:
        raise UserError(f"{folder / MODEL_FILE}: not a readable safetensors file ({exc})") from None
    check_weights(config, {k: v.numpy() for k, v in weights.items()}, folder / MODEL_FILE)
    model = BERT4Rec(config, init=False)  # every weight comes from the file (strict load)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise UserError(f"{folder / MODEL_FILE}: weights do not fit the model in meta.json ({str(exc).splitlines()[0]})") from None
    model.to(device).eval()
    return model, meta


def check_vocab(meta: dict, item_ids: np.ndarray, where: str) -> None:
    """Refuse a checkpoint whose rated items are not the data's items, in the same order.

    A whole-catalogue model's vocabulary is the data's items followed by the anime it knows
    from metadata only (``num_rated`` says where the first part ends)."""
    vocab = meta["vocab"]
    rated = meta["model_config"].get("num_rated") or len(vocab["item_ids"])
    if vocab_hash(np.asarray(vocab["item_ids"][:rated], dtype=np.int64)) != vocab_hash(item_ids):
        raise UserError(
            f"the checkpoint's vocabulary ({len(vocab['item_ids']):,} items) does not match {where} ({item_ids.size:,} items); "
            "use the data the model was trained on"
        )


def export_model(run: Path, out: Path, half: bool = True) -> None:
    """Write a run's best weights (fp16 when ``half``) and meta.json to a standalone folder.

    The integer genre table stays as it is; only floating-point tensors are halved.
    """
    folder = resolve_model_dir(run)
    meta = read_meta(folder)
    weights = load_file(str(folder / MODEL_FILE))
    if half:
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    meta = {**meta, "exported_from": str(folder), "dtype": "float16" if half else "float32"}
    with atomic_output_dir(out, force=True) as tmp:
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": CHECKPOINT_FORMAT})
        (tmp / META_FILE).write_bytes(json_bytes(meta))

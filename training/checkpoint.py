"""Checkpoints as safetensors + JSON, written so that a kill at any moment loses nothing.

A run folder holds ``checkpoints/<name>/`` folders, each written under a temporary name
and renamed into place whole, and ``run.json``, an atomically replaced pointer to the
latest and the best of them. Weights are safetensors; configuration, vocabulary and
metrics are JSON; optimizer state is its own safetensors + JSON pair. No pickle.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from training import __version__
from training.errors import UserError
from training.fsutil import atomic_output_dir, fsync_dir
from training.model import BERT4Rec, ModelConfig

CHECKPOINT_FORMAT = "animerec-checkpoint"
CHECKPOINT_VERSION = 1
MODEL_FILE, META_FILE = "model.safetensors", "meta.json"
STATE_FILE, STATE_META_FILE = "train_state.safetensors", "train_state.json"
RUN_FILE = "run.json"
CHECKPOINT_NAME = re.compile(r"e\d{4}-s\d{6}")  # e<epochs done>-s<steps into the next>


def vocab_hash(item_ids: np.ndarray) -> str:
    """Hash of the item vocabulary (dense id -> raw id), to match checkpoints with data."""
    return hashlib.sha256(np.ascontiguousarray(item_ids, dtype=np.int64).tobytes()).hexdigest()


def versions() -> dict:
    return {"animerec": __version__, "torch": torch.__version__, "python": platform.python_version()}


def json_bytes(data: dict) -> bytes:
    """The JSON every checkpoint file uses: indented, keys sorted, one trailing newline."""
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


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


def read_run(run: Path) -> dict:
    """The run pointer: {"latest": name, "best": name}."""
    try:
        pointer = json.loads((run / RUN_FILE).read_text())
        if not isinstance(pointer, dict) or not isinstance(pointer.get("latest"), str):
            raise ValueError("no latest checkpoint named")
        return pointer
    except FileNotFoundError:
        raise UserError(f"{run}: not a training run (no {RUN_FILE})") from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested too deep
        raise UserError(f"{run / RUN_FILE}: unreadable ({exc})") from None


def resolve_model_dir(path: Path, which: str = "best") -> Path:
    """A checkpoint folder from a run folder (its best or latest) or a checkpoint folder itself."""
    path = Path(path)
    if (path / META_FILE).is_file() and (path / MODEL_FILE).is_file():
        return path
    if not path.exists():
        raise UserError(f"{path}: no such run or model folder")
    if not path.is_dir():
        # Typically a .pt/.pkl/.bin from elsewhere: those are pickles, which are never loaded.
        raise UserError(f"{path}: is a file; expected a run folder or a model folder ({META_FILE} + {MODEL_FILE})")
    pointer = read_run(path)
    name = pointer.get(which) or pointer.get("latest")
    folder = path / "checkpoints" / str(name)
    if Path(str(name)).name != str(name) or not folder.is_dir():
        raise UserError(f"{path}: {RUN_FILE} points to a missing checkpoint ({name})")
    return folder


def read_meta(folder: Path) -> dict:
    """A checkpoint's meta.json, checked for shape, version and a self-consistent vocabulary."""
    path = folder / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested too deep
        raise UserError(f"{path}: unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != CHECKPOINT_VERSION:
        raise UserError(f"{path}: not an animerec checkpoint of version {CHECKPOINT_VERSION}")
    vocab, config = meta.get("vocab"), meta.get("model_config")
    if not isinstance(vocab, dict) or not isinstance(config, dict):
        raise UserError(f"{path}: the vocabulary or model configuration is missing; the file is damaged")
    data = meta.get("data", {})
    if not isinstance(data, dict) or not isinstance(data.get("path", ""), str):
        raise UserError(f"{path}: its data section is malformed; the file is damaged")
    try:
        ids = np.asarray(vocab.get("item_ids", []), dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"{path}: malformed ({exc}); the file is damaged") from None
    try:
        ModelConfig.from_dict(config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: malformed (model_config.{exc}); the file is damaged") from None
    if vocab.get("sha256") != vocab_hash(ids) or ids.ndim != 1 or ids.size != config.get("num_items"):
        raise UserError(f"{path}: its vocabulary does not match its own hash; the file is damaged")
    return meta


def _check_shapes(config: ModelConfig, weights: dict[str, torch.Tensor], where: Path) -> None:
    """Refuse weights whose tables disagree with meta.json before the model is built.

    Building first would let a damaged meta.json (``"hidden": 1000000000``) allocate without
    bound; checked against the weights, every size is bounded by the file's own size.
    """
    expected = {"item_emb.weight": (config.vocab_size, config.hidden)}
    if config.positional:
        expected["pos_emb.weight"] = (config.max_len, config.hidden)
    if config.genres:
        expected["genre_emb.weight"] = (config.num_genres + 1, config.hidden)
        expected["item_genres"] = (config.vocab_size, max(config.genres_per_item, 1))
    if config.meta_bias:
        expected["genre_bias.weight"] = (config.num_genres + 1, 1)
    if config.genres and config.pooling == "fields":
        expected["genre_weights"] = (config.vocab_size, max(config.genres_per_item, 1))
    for name, shape in expected.items():
        found = tuple(weights[name].shape) if name in weights else None
        if found != shape:
            raise UserError(f"{where}: weights do not fit the model in meta.json ({name} is {found}, meta.json says {shape})")
    blocks = {name.split(".")[1] for name in weights if name.startswith("blocks.")}
    if len(blocks) != config.layers:
        raise UserError(f"{where}: weights do not fit the model in meta.json ({len(blocks)} blocks, meta.json says {config.layers})")
    genres = weights.get("item_genres")
    # Genre ids index the genre table; one out of range would fail deep inside a lookup.
    if genres is not None and (genres.is_floating_point() or genres.numel() and not 0 <= int(genres.min()) <= int(genres.max()) <= config.num_genres):
        raise UserError(f"{where}: item_genres holds ids outside 0..{config.num_genres}; the file is damaged")
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{where}: {name} holds NaN or infinite values; the model is broken, retrain or re-export it")


def load_model(path: Path, device: str = "cpu", which: str = "best") -> tuple[BERT4Rec, dict]:
    """Load a model (weights + meta) from a run or checkpoint folder."""
    folder = resolve_model_dir(path, which)
    meta = read_meta(folder)
    config = ModelConfig.from_dict(meta["model_config"])
    try:
        weights = load_file(str(folder / MODEL_FILE), device=device)
    except (OSError, SafetensorError) as exc:
        raise UserError(f"{folder / MODEL_FILE}: not a readable safetensors file ({exc})") from None
    _check_shapes(config, weights, folder / MODEL_FILE)
    model = BERT4Rec(config, init=False).to(device)  # every weight comes from the file (strict load)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    except RuntimeError as exc:
        raise UserError(f"{folder / MODEL_FILE}: weights do not fit the model in meta.json ({str(exc).splitlines()[0]})") from None
    model.eval()
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

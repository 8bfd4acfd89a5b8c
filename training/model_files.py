"""Model folders as files, read without torch: the run pointer, a checkpoint's meta.json and
its weights as numpy arrays, each checked so that a damaged file gives one clear error.

``checkpoint`` writes these files and builds torch models from them; the torch-free
inference path (``numpy_model``) reads them here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np

from training.errors import UserError
from training.model_config import ModelConfig

CHECKPOINT_FORMAT = "animerec-checkpoint"
CHECKPOINT_VERSION = 1
MODEL_FILE, META_FILE = "model.safetensors", "meta.json"
STATE_FILE, STATE_META_FILE = "train_state.safetensors", "train_state.json"
RUN_FILE = "run.json"
CHECKPOINT_NAME = re.compile(r"e\d{4}-s\d{6}")  # e<epochs done>-s<steps into the next>
WEIGHT_BOUND = 1e6
"""Largest |weight| a model folder may hold. Trained models stay near 10 (the shipped one's
largest is 10.8, a genre bias; one step at --lr 1e5 leaves 1e5); below it every score is
finite in float32 even at --hidden 65536, and beyond it scores overflow or lose the digits
that tell anime apart (an out_bias of 3e38 listed the catalogue in file order). Training
checks its weights against it before every checkpoint, so a run never saves one it could not load."""


def vocab_hash(item_ids: np.ndarray) -> str:
    """Hash of the item vocabulary (dense id -> raw id), to match checkpoints with data."""
    return hashlib.sha256(np.ascontiguousarray(item_ids, dtype=np.int64).tobytes()).hexdigest()


def json_bytes(data: dict) -> bytes:
    """The JSON every checkpoint file uses: indented, keys sorted, one trailing newline."""
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


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


def _sha256(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


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
    if not isinstance(data, dict) or not isinstance(data.get("path", ""), str) or not _sha256(data.get("splits_sha256", "0" * 64)):
        raise UserError(f"{path}: its data section is malformed; the file is damaged")
    genres = meta.get("genres", [])
    if not isinstance(genres, list) or not all(isinstance(name, str) for name in genres):
        raise UserError(f"{path}: genres is not a list of genre names; the file is damaged")
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
    # One anime under two token ids: a favourite would be input under one and recommended back under the other.
    unique, counts = np.unique(ids, return_counts=True)
    if unique.size != ids.size:
        raise UserError(f"{path}: the vocabulary repeats item {int(unique[counts > 1][0])}; the file is damaged")
    if ids.size and ids.min() < 0:
        raise UserError(f"{path}: the vocabulary holds item id {int(ids.min())}, below 0; the file is damaged")
    return meta


def check_weights(config: ModelConfig, weights: dict[str, np.ndarray], where: Path) -> None:
    """Refuse weights whose tables disagree with meta.json before a model is built from them.

    Building first would let a damaged meta.json (``"hidden": 1000000000``) allocate without
    bound; checked against the weights, every size is bounded by the file's own size.
    ``weights``: the file's tensors as numpy arrays (any float width).
    """
    expected: dict[str, tuple[int, ...]] = {"item_emb.weight": (config.vocab_size, config.hidden)}
    if config.positional:
        expected["pos_emb.weight"] = (config.max_len, config.hidden)
    if config.genres:
        expected["genre_emb.weight"] = (config.num_genres + 1, config.hidden)
        expected["item_genres"] = (config.vocab_size, max(config.genres_per_item, 1))
    if config.meta_bias:
        expected["genre_bias.weight"] = (config.num_genres + 1, 1)
    if config.genres and config.pooling == "fields":
        expected["genre_weights"] = (config.vocab_size, max(config.genres_per_item, 1))
    blocks = {name.split(".")[1] for name in weights if name.startswith("blocks.")}
    if len(blocks) != config.layers:
        raise UserError(f"{where}: weights do not fit the model in meta.json ({len(blocks)} blocks, meta.json says {config.layers})")
    h = config.hidden
    for norm in ("emb_norm", "final_norm", "head.2"):
        expected[f"{norm}.weight"] = expected[f"{norm}.bias"] = (h,)
    expected.update({"head.0.weight": (h, h), "head.0.bias": (h,), "out_bias": (config.num_items,)})
    for i in range(config.layers):  # every block, whole: the numpy path reads them by name
        parts: tuple[tuple[str, tuple[int, ...]], ...] = (("norm1", (h,)), ("norm2", (h,)), ("proj", (h, h)), ("qkv", (3 * h, h)), ("ffn.0", (4 * h, h)), ("ffn.2", (h, 4 * h)))
        for part, size in parts:
            expected[f"blocks.{i}.{part}.weight"] = size
            expected[f"blocks.{i}.{part}.bias"] = size[:1]
    for name, shape in expected.items():
        found = tuple(weights[name].shape) if name in weights else None
        if found != shape:
            raise UserError(f"{where}: weights do not fit the model in meta.json ({name} is {found}, meta.json says {shape})")
    extra = sorted(set(weights) - set(expected))
    if extra:
        raise UserError(f"{where}: weights do not fit the model in meta.json ({extra[0]} is not part of it)")
    for name, array in weights.items():  # the genre table holds ids, every other tensor weights
        wanted = "iu" if name == "item_genres" else "f"
        if array.dtype.kind not in wanted:
            kind = "integer genre ids" if name == "item_genres" else "floating-point weights"
            raise UserError(f"{where}: {name} holds {array.dtype} values, expected {kind}; the file is damaged")
    genres = weights.get("item_genres")
    # Genre ids index the genre table; one out of range would fail deep inside a lookup.
    if genres is not None and genres.size and not 0 <= int(genres.min()) <= int(genres.max()) <= config.num_genres:
        raise UserError(f"{where}: item_genres holds ids outside 0..{config.num_genres}; the file is damaged")
    for name, array in weights.items():
        if name == "item_genres" or not array.size:
            continue
        largest = float(np.abs(array).max())  # NaN or infinity anywhere comes out here: one pass
        if not math.isfinite(largest):
            raise UserError(f"{where}: {name} holds NaN or infinite values; the model is broken, retrain or re-export it")
        if largest > WEIGHT_BOUND:
            raise UserError(
                f"{where}: {name} holds values as large as {largest:.3g} (a trained model's stay below {WEIGHT_BOUND:g}), "
                "whose scores overflow or all come out equal; the model is broken, retrain or re-export it"
            )


def read_weights(folder: Path, config: ModelConfig) -> dict[str, np.ndarray]:
    """A checkpoint folder's weights as numpy arrays (floats as float32), checked against ``config``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = folder / MODEL_FILE
    try:
        weights = load_file(str(path))
    except (OSError, SafetensorError, TypeError, ValueError) as exc:  # TypeError/ValueError: a dtype numpy lacks (bfloat16)
        raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
    check_weights(config, weights, path)
    return {k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v for k, v in weights.items()}

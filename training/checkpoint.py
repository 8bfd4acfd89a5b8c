"""Checkpoints as safetensors + JSON, written so that a kill at any moment loses nothing.

A run folder holds ``checkpoints/<name>/`` folders, each written under a temporary name
and renamed into place whole, and ``run.json``, an atomically replaced pointer to the
latest and the best of them. Weights are safetensors; configuration, vocabulary and
metrics are JSON; optimizer state is its own safetensors + JSON pair. No pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from training import __version__
from training.averaging import split_state
from training.errors import UserError
from training.fsutil import atomic_output_dir, check_output, check_replaceable, fsync_dir, is_model_folder, shown
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
    WEIGHT_BOUND,
    check_weights,
    json_bytes,
    read_meta,
    read_run,
    read_weights,
    resolve_model_dir,
    vocab_hash,
)

if TYPE_CHECKING:
    from training.data import Dataset


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


def write_checkpoint(folder: Path, model: BERT4Rec, meta: dict, optimizer: torch.optim.Optimizer | None = None, state: dict | None = None,
                     extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write one checkpoint folder atomically (weights, meta, and optionally training state;
    ``extra``: more tensors of that state, the weight average's)."""
    with atomic_output_dir(folder, force=True) as tmp:
        weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": CHECKPOINT_FORMAT})
        (tmp / META_FILE).write_bytes(json_bytes(meta))
        if optimizer is not None:
            tensors, layout = _flatten_optimizer(optimizer)
            save_file({**tensors, **(extra or {})}, str(tmp / STATE_FILE))
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
    """Restore optimizer state from a checkpoint folder; return the rest of its training state
    (with the weight average's tensors, if it has any, under ``AVERAGING_KEY``).

    ``optimizer`` is the one ``make_optimizer`` builds for the run's own settings: the saved
    state must be its state, whole and sound (``_check_groups``, ``_check_entries``), and
    the progress well formed (``_check_state``), all before the first step. A hand-edited
    file (``"maximize": true``, ``"eps": "x"``, a cut tensor, a history record that would
    fail after an epoch of training) is refused with one line naming the file.
    """
    try:
        tensors, averaging = split_state(load_file(str(folder / STATE_FILE), device=device))
        state = json.loads((folder / STATE_META_FILE).read_text())
    except (OSError, ValueError, SafetensorError, RecursionError) as exc:
        raise UserError(f"{folder}: training state unreadable ({exc}); cannot resume") from None
    where = folder / STATE_META_FILE
    try:
        _check_state(state, folder.parent)
        layout = state.pop("optimizer")
        groups = _check_groups(layout["param_groups"], optimizer.param_groups)
        for name in layout["scalars"]:  # only a step count may be a number rather than a tensor (older torch)
            if not (name.endswith(".step") and name.removesuffix(".step").isdigit()):
                raise ValueError(f"{name:.60} is no part of the run's optimizer state")
        where = folder / STATE_FILE
        entries = _check_entries(tensors, layout["scalars"], [p for group in optimizer.param_groups for p in group["params"]])
        optimizer.load_state_dict({"state": entries, "param_groups": groups})
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{where}: damaged ({problem:.200}); cannot resume") from None
    if averaging:
        state[AVERAGING_KEY] = averaging
    return state


AVERAGING_KEY = "weight_average"
"""``load_optimizer_state``'s entry of the weight average's tensors (``training.averaging``), when the run averages."""


TRAINED_SETTINGS = frozenset({"lr"})
"""Optimizer settings training changes as it goes (the schedule sets lr before every step)."""
DEVICE_SETTINGS = frozenset({"fused"})
"""How the optimizer runs on this device, not what it computes: a CUDA run (fused) resumes on the CPU."""


def _check_groups(saved: list, fresh: list[dict]) -> list[dict]:
    """The parameter groups to load: ``fresh``'s (the run's own optimizer), with the saved lr.

    Every saved setting must be the fresh optimizer's (a run never turns on amsgrad or
    maximize, nor changes eps or betas); lr must lie on the run's schedule, above 0 and at
    most the run's --lr. A setting the saved group lacks (an older torch) is the fresh one."""
    if len(saved) != len(fresh):
        raise ValueError(f"{len(saved)} parameter groups, the run's optimizer has {len(fresh)}")
    groups, first = [], 0
    for number, (group, own) in enumerate(zip(saved, fresh)):
        indices = list(range(first, first + len(own["params"])))
        first += len(own["params"])
        if group.get("params") != indices:
            raise ValueError(f"parameter groups do not match the model's parameters (group {number})")
        for key, value in group.items():
            if key == "params" or key in DEVICE_SETTINGS:
                continue
            if key not in own:
                raise ValueError(f"{key} is not a setting of the run's optimizer")
            if key == "lr":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= own["lr"] * (1 + 1e-9):
                    raise ValueError(f"lr is {json.dumps(value):.40}, not on the run's schedule: above 0, at most {own['lr']:g}")
            elif json.dumps(value) != json.dumps(own[key]):
                raise ValueError(f"{key} is {json.dumps(value):.40}; the run's optimizer has {json.dumps(own[key])}")
        groups.append({**{k: v for k, v in own.items() if k != "params"}, **{k: group[k] for k in TRAINED_SETTINGS if k in group}, "params": indices})
    return groups


ADAM_TENSORS = ("exp_avg", "exp_avg_sq")


def _check_entries(tensors: dict[str, torch.Tensor], scalars: dict, params: list[torch.Tensor]) -> dict[int, dict]:
    """Each parameter's AdamW state: both moments (its shape and dtype, finite; the second
    not negative) and its step count (a whole number from 1). Nothing else."""
    entries: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(scalars.items()):
        index, _, key = name.partition(".")
        if not (index.isdigit() and int(index) < len(params) and key in (*ADAM_TENSORS, "step")) or (key != "step" and name in scalars):
            raise ValueError(f"{name:.60} is no part of the run's optimizer state")
        entries.setdefault(int(index), {})[key] = value
    for index, param in enumerate(params):
        entry = entries.get(index, {})
        for key in ADAM_TENSORS:
            value, name = entry.get(key), f"{index}.{key}"
            if value is None:
                raise ValueError(f"{name} is missing")
            if value.dtype != param.dtype:
                raise ValueError(f"{name} holds {str(value.dtype).removeprefix('torch.')}, its parameter {str(param.dtype).removeprefix('torch.')}")
            if value.shape != param.shape:
                raise ValueError(f"{name} has shape {tuple(value.shape)}, its parameter {tuple(param.shape)}")
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name} holds NaN or infinite values")
            if key == "exp_avg_sq" and value.numel() and float(value.min()) < 0:
                raise ValueError(f"{name} holds negative values")
        step = entry.get("step")
        number = float(step) if torch.is_tensor(step) and step.numel() == 1 and step.dtype != torch.bool else step
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not (1 <= number < 2**53 and number == int(number)):
            raise ValueError(f"{index}.step is {number if step is not None else 'missing'}, not a whole number from 1")
    return entries


def _whole(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value, low: float = -math.inf, high: float = math.inf) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and low <= value <= high


def _check_record(number: int, record) -> None:
    """One epoch of ``history``, as ``train._validate`` writes it."""
    fields = {
        "epoch": isinstance(record, dict) and record.get("epoch") == number and _whole(record.get("epoch")),
        "loss": isinstance(record, dict) and (record.get("loss") is None or _number(record.get("loss"))),
        "val_ndcg@10": isinstance(record, dict) and _number(record.get("val_ndcg@10"), 0, 1),
        "val_recall@10": isinstance(record, dict) and _number(record.get("val_recall@10"), 0, 1),
        "seconds": isinstance(record, dict) and _number(record.get("seconds"), 0),
    }
    bad = [key for key, ok in fields.items() if not ok]
    if bad:
        found = record.get(bad[0]) if isinstance(record, dict) else record
        raise ValueError(f"history's epoch {number} is malformed ({bad[0]} is {found!r:.40})")


def _check_state(state, checkpoints: Path | None = None) -> None:
    """Raise ValueError unless ``state`` has the shape ``train()`` writes (a damaged or hand-edited file).

    ``checkpoints``: the run's checkpoint folder, where the best checkpoint must be."""
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
    history = state.get("history")
    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        raise ValueError("history is not a list of epochs")
    if len(history) != state["epoch"]:
        raise ValueError(f"history has {len(history)} epochs, and epoch says {state['epoch']} are done")
    for number, record in enumerate(history, 1):
        _check_record(number, record)
    if not isinstance(best, dict) or not (best.get("epoch") is None or _whole(best.get("epoch"), 1)):
        raise ValueError("best is malformed")
    score = best.get("ndcg@10")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or score != score:
        raise ValueError("best ndcg@10 is not a number")
    if not (best.get("name") is None or (isinstance(best["name"], str) and CHECKPOINT_NAME.fullmatch(best["name"]))):
        raise ValueError("best names no checkpoint")
    epoch = best.get("epoch")
    if epoch is None:
        if best.get("name") is not None:
            raise ValueError("best names a checkpoint but no epoch")
        return
    if epoch > state["epoch"] or best.get("name") != f"e{epoch:04d}-s000000" or score != history[epoch - 1]["val_ndcg@10"]:
        raise ValueError(f"best (epoch {epoch}, {best.get('name')}, NDCG@10 {score:.4g}) is not an epoch of the history")
    if checkpoints is not None and not (checkpoints / best["name"]).is_dir():
        raise ValueError(f"best names checkpoint {best['name']}, which is not in {checkpoints}")


def load_model(path: Path, device: str = "cpu", which: str = "best") -> tuple[BERT4Rec, dict]:
    """Load a model (weights + meta) from a run or checkpoint folder."""
    folder = resolve_model_dir(path, which)
    meta = read_meta(folder)
    config = ModelConfig.from_dict(meta["model_config"])
    # Read and checked as the torch-free path reads them (model_files.read_weights), so both
    # paths take, and refuse, the same folders.
    weights = {k: torch.from_numpy(v) for k, v in read_weights(folder, config).items()}
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


def split_hash(data: Dataset) -> str:
    """SHA-256 of a dataset's split (vocabulary, then each split's offsets and items): the same
    for a copy of a data folder anywhere, different for the same ratings split with another seed."""
    digest = hashlib.sha256(np.ascontiguousarray(data.item_ids, dtype="<i8").tobytes())
    for name in ("train", "val", "test"):
        offsets, items = data.splits[name]
        digest.update(np.ascontiguousarray(offsets, dtype="<i8").data)
        digest.update(np.ascontiguousarray(items, dtype="<i4").data)
    return digest.hexdigest()


SPLIT_FIELDS = ("input", "format", "params", "counts")
"""The manifest's fields a checkpoint records of its data (``train._data_section``) that decide the split."""


def check_split(meta: dict, data: Dataset, advice: str) -> None:
    """Refuse data whose split is not the one the checkpoint was trained on.

    The same ratings preprocessed with another seed have the same items, so the vocabulary
    matches, but their held-out items are partly ones the run trained on: scored on them a
    run looks better than it is (NDCG@10 +20%), and resumed on them it trains on its own
    test set. A run records the split's hash (``split_hash``); older runs and the shipped
    model record the manifest's input, format, parameters and counts, compared instead. A
    model that records no data (a random or hand-made one) is not checked."""
    recorded = meta.get("data")
    if not isinstance(recorded, dict) or not recorded:
        return
    manifest = data.manifest
    fields = [key for key in SPLIT_FIELDS if key in recorded and recorded[key] != manifest.get(key)]
    fingerprint = recorded.get("splits_sha256")
    if not fields and (fingerprint is None or fingerprint == split_hash(data)):
        return
    why = "its split files differ"
    params, theirs = recorded.get("params"), manifest.get("params")
    if isinstance(params, dict) and isinstance(theirs, dict) and params != theirs:
        changed = [key for key in sorted(set(params) | set(theirs)) if params.get(key) != theirs.get(key)]
        why = "preprocessed with " + ", ".join(f"{key} {theirs.get(key)!r:.20}, the run's with {params.get(key)!r:.20}" for key in changed[:3])
    elif "input" in fields:
        why = "made from other ratings"
    elif fields:
        why = f"its {fields[0]} differ"
    raise UserError(
        f"{data.folder} is not the split the run was trained on ({why}); its held-out items may be ones it trained on: {advice}"
        + (f" ({recorded['path']})" if isinstance(recorded.get("path"), str) and recorded["path"] else "")
    )


def _foreign_in_model_folder(out: Path) -> str | None:
    """What in ``out`` an export may not replace: anything but an exported model's own two files."""
    names = sorted(p.name for p in Path(out).iterdir())
    if not names:
        return None
    if not is_model_folder(out):
        return "it is not a model folder made by animerec"
    extra = [n for n in names if n not in (MODEL_FILE, META_FILE)]
    return f"it holds {shown(extra[0])}, which an export does not write" if extra else None


def export_model(run: Path, out: Path, half: bool = True) -> None:
    """Write a run's best weights (fp16 when ``half``) and meta.json to a standalone folder.

    The integer genre table stays as it is; only floating-point tensors are halved. The
    weights are read and checked as loading checks them, and a weight float16 cannot hold
    (past 65,504: it would be infinity, which loading refuses) is refused before anything is written.
    """
    folder = resolve_model_dir(run)
    meta = read_meta(folder)
    arrays = read_weights(folder, ModelConfig.from_dict(meta["model_config"]))
    if half:
        limit = float(np.finfo(np.float16).max)
        for name, array in arrays.items():
            largest = float(np.abs(array).max()) if array.dtype.kind == "f" and array.size else 0.0
            if largest > limit:
                raise UserError(f"{folder / MODEL_FILE}: {name} holds values as large as {largest:.3g}, past float16's {limit:g}; export it in float32")
    weights = {k: torch.from_numpy(v) for k, v in arrays.items()}
    if half:
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    meta = {**meta, "exported_from": str(folder), "dtype": "float16" if half else "float32"}
    check_output(out, "export", [folder])
    check_replaceable(out, "export", [folder], _foreign_in_model_folder)
    with atomic_output_dir(out, force=True) as tmp:
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": CHECKPOINT_FORMAT})
        (tmp / META_FILE).write_bytes(json_bytes(meta))

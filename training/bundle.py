"""A preprocessed folder packed small enough to ship in the package, and unpacked again.

``pack`` writes ``interactions.npz`` (every array of the folder in the narrowest unsigned
type that holds it, zip-compressed; numpy's format, read without pickle), the folder's own
``manifest.json`` and ``bundle.json`` (each array's original dtype). ``unpack`` restores the
``.npy`` files byte for byte, checks each against the SHA-256 the manifest recorded for it,
and only then moves the folder into place, so a half-written or altered copy is never used.
It unpacks beside the destination and swaps the folders in one rename, and replaces only a
folder that animerec unpacked there (known by content): anything else is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from training.data import SPLIT_FILES, load_dataset
from training.errors import UserError
from training.fsutil import atomic_output_dir, output_lock, sha256_file
from training.preprocess import foreign_in_data_folder

ARRAYS = "interactions.npz"
MANIFEST = "manifest.json"
DTYPES = "bundle.json"


def _narrow(array: np.ndarray) -> np.ndarray:
    for kind in (np.uint16, np.uint32):
        if array.size == 0 or (array.min() >= 0 and array.max() <= np.iinfo(kind).max):
            return array.astype(kind)
    return array


def pack(folder: Path, out: Path) -> dict:
    """Pack the preprocessed ``folder`` (checked by ``load_dataset`` first) into ``out``; returns sizes."""
    load_dataset(folder)
    arrays = {name: np.load(Path(folder) / name, allow_pickle=False) for name in SPLIT_FILES}
    out.mkdir(parents=True, exist_ok=True)
    narrow = {name.removesuffix(".npy"): _narrow(a) for name, a in arrays.items()}
    np.savez_compressed(out / ARRAYS, **narrow)  # type: ignore[arg-type]  # numpy's stub misreads **kwds
    shutil.copyfile(Path(folder) / MANIFEST, out / MANIFEST)
    (out / DTYPES).write_text(json.dumps({name: str(a.dtype) for name, a in arrays.items()}, indent=1) + "\n")
    return {"bytes": (out / ARRAYS).stat().st_size, "arrays": len(arrays)}


def unpack(bundle: Path, dest: Path) -> Path:
    """``dest`` as the preprocessed folder ``bundle`` packs; reused when it already holds it.

    Otherwise it is unpacked beside ``dest`` and swapped in whole (``atomic_output_dir``: the
    old copy stays until the new one is complete, and the folder gets the umask's permissions).
    Only an earlier copy may be replaced, never a file, a symlink or a folder holding anything
    of the user's: a later ``train`` would otherwise delete what was put there.
    """
    manifest_bytes = (bundle / MANIFEST).read_bytes()
    expected = json.loads(manifest_bytes).get("files", {})
    if _holds(dest, manifest_bytes, expected):  # read through a symlink too: nothing is written
        return dest
    with output_lock(dest, "train"):
        _check_replaceable(dest)
        dtypes = json.loads((bundle / DTYPES).read_text())
        with atomic_output_dir(dest, force=True) as staging, np.load(bundle / ARRAYS, allow_pickle=False) as packed:
            for name in SPLIT_FILES:
                np.save(staging / name, packed[name.removesuffix(".npy")].astype(dtypes[name]), allow_pickle=False)
                if sha256_file(staging / name) != expected.get(name):
                    raise UserError(f"{bundle / ARRAYS}: {name} does not match its manifest; the installed training data is damaged, reinstall animerec")
            (staging / MANIFEST).write_bytes(manifest_bytes)
    return dest


def _holds(dest: Path, manifest_bytes: bytes, expected: dict) -> bool:
    """Whether ``dest`` already is the unpacked bundle: the same manifest, every array matching its hash."""
    return (dest / MANIFEST).is_file() and (dest / MANIFEST).read_bytes() == manifest_bytes and all(
        (dest / name).is_file() and sha256_file(dest / name) == expected.get(name) for name in SPLIT_FILES
    )


def _check_replaceable(dest: Path) -> None:
    """Refuse to replace ``dest`` unless it is absent or a data folder animerec made, with nothing else in it."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        what = "a symlink" if dest.is_symlink() else "a file"
        raise UserError(f"cannot unpack the training data to {dest}: it is {what}, not a copy animerec unpacked; move it away or pass --data")
    problem = foreign_in_data_folder(dest) if dest.exists() else None
    if problem:
        raise UserError(f"cannot unpack the training data to {dest}: {problem}; move it away or pass --data")

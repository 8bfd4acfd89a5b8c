"""A preprocessed folder packed small enough to ship in the package, and unpacked again.

``pack`` writes ``interactions.npz`` (every array of the folder in the narrowest unsigned
type that holds it, zip-compressed; numpy's format, read without pickle), the folder's own
``manifest.json`` and ``bundle.json`` (each array's original dtype). ``unpack`` restores the
``.npy`` files byte for byte, checks each against the SHA-256 the manifest recorded for it,
and only then moves the folder into place, so a half-written or altered copy is never used.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from training.data import SPLIT_FILES, load_dataset
from training.errors import UserError
from training.fsutil import sha256_file

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
    """``dest`` as the preprocessed folder ``bundle`` packs; reused when it already holds it."""
    manifest_bytes = (bundle / MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    expected = manifest.get("files", {})
    if (dest / MANIFEST).is_file() and (dest / MANIFEST).read_bytes() == manifest_bytes and all(
        (dest / name).is_file() and sha256_file(dest / name) == expected.get(name) for name in SPLIT_FILES
    ):
        return dest
    dtypes = json.loads((bundle / DTYPES).read_text())
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        with np.load(bundle / ARRAYS, allow_pickle=False) as packed:
            for name in SPLIT_FILES:
                np.save(staging / name, packed[name.removesuffix(".npy")].astype(dtypes[name]), allow_pickle=False)
                if sha256_file(staging / name) != expected.get(name):
                    raise UserError(f"{bundle / ARRAYS}: {name} does not match its manifest; the installed training data is damaged, reinstall animerec")
        (staging / MANIFEST).write_bytes(manifest_bytes)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest

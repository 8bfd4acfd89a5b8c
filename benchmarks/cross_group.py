"""Cross-group splits (issue 28 part 4): train on one group of users, test on another.

    python benchmarks/cross_group.py build --out runs/cross    # the data folders, from Data/training

The shipped training data (Data/training, 5,230 users) holds three sources, told apart by
the offset ``scripts/build_default_model.py`` gives each source's user ids: the caserec 5k
set (< 1,000,000) and the CooperUnion tail (1,000,000+), both lists of the 2016-2018 era,
and the January 2023 crawl (2,000,000+). Two splits:

- ``crawl-out``: train on the 2016-2018 lists, test on the crawl's users;
- ``era-out``: train on the crawl's users, test on the 2016-2018 lists.

Each split is two preprocessed folders with the shipped data's vocabulary (``item_ids``)
unchanged, so a model trained on one scores the other: ``<split>/train`` holds the training
group's users with their shipped train/val/test rows (the model trains on the train rows,
and its epoch is chosen on the training group's own validation items, as the shipped model's
was), and ``<split>/heldout`` the other group's users, never trained on, with their shipped
rows too: the train rows are their input at inference (fold-in), one validation and one test
item each. The folders are written as ``animerec preprocess`` writes them (manifest with each
array's SHA-256), so ``animerec train --data`` takes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.data import Dataset, gather_ranges, load_dataset  # noqa: E402
from training.fsutil import sha256_file  # noqa: E402
from training.preprocess import SPLIT_FILES  # noqa: E402

BUNDLE = REPO / "Data" / "training"
CRAWL_USER_OFFSET = 2_000_000
SPLITS = {
    # name: (training group, held-out group), each a test on the raw user id
    "crawl-out": ("2016-2018 lists", "2023 crawl"),
    "era-out": ("2023 crawl", "2016-2018 lists"),
}


def crawl_mask(user_ids: np.ndarray) -> np.ndarray:
    return np.asarray(user_ids) >= CRAWL_USER_OFFSET


def shipped_arrays() -> dict[str, np.ndarray]:
    """The shipped training data's arrays, in their original dtypes (read without pickle)."""
    dtypes = json.loads((BUNDLE / "bundle.json").read_text())
    with np.load(BUNDLE / "interactions.npz", allow_pickle=False) as packed:
        return {name: packed[name.removesuffix(".npy")].astype(dtypes[name]) for name in SPLIT_FILES}


def subset(arrays: dict[str, np.ndarray], users: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays restricted to ``users`` (in their order), every split's rows kept, items unchanged."""
    out = {"item_ids.npy": arrays["item_ids.npy"], "user_ids.npy": arrays["user_ids.npy"][users]}
    for split in ("train", "val", "test"):
        offsets, items = arrays[f"{split}_offsets.npy"], arrays[f"{split}_items.npy"]
        counts = offsets[users + 1] - offsets[users]
        out[f"{split}_offsets.npy"] = np.concatenate([[0], np.cumsum(counts)]).astype(offsets.dtype)
        out[f"{split}_items.npy"] = items[gather_ranges(offsets[users], counts)].astype(items.dtype)
    return out


def write_folder(arrays: dict[str, np.ndarray], out: Path, note: str) -> None:
    """Write ``arrays`` as a preprocessed folder, its manifest the shipped one with new counts and hashes."""
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in SPLIT_FILES:
        np.save(out / name, arrays[name], allow_pickle=False)
        files[name] = sha256_file(out / name)
    users = int(arrays["user_ids.npy"].size)
    counts = {
        "users": users,
        "items": int(arrays["item_ids.npy"].size),
        "train": int(arrays["train_items.npy"].size),
        "val": int(arrays["val_items.npy"].size),
        "test": int(arrays["test_items.npy"].size),
        "holdout": "random",
    }
    manifest.update({"counts": counts, "files": files})
    manifest["input"] = {**manifest["input"], "name": f"{manifest['input']['name']} ({note})"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def build(out: Path) -> dict:
    """Write ``out/<split>/{train,heldout}`` for both splits; return their user counts."""
    arrays = shipped_arrays()
    crawl = crawl_mask(arrays["user_ids.npy"])
    report = {}
    for name, (train_group, held_group) in SPLITS.items():
        held = crawl if name == "crawl-out" else ~crawl
        for part, users in (("train", np.flatnonzero(~held)), ("heldout", np.flatnonzero(held))):
            note = f"{name}: {train_group if part == 'train' else held_group} users only"
            write_folder(subset(arrays, users), out / name / part, note)
            load_dataset(out / name / part)  # the project's own checks
            report[f"{name}/{part}"] = int(users.size)
    return report


def folders(root: Path, name: str) -> tuple[Dataset, Dataset]:
    """(training group, held-out group) of split ``name`` under ``root``, as Datasets."""
    return load_dataset(root / name / "train"), load_dataset(root / name / "heldout")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the two splits' data folders")
    b.add_argument("--out", type=Path, default=REPO / "runs" / "cross")
    args = parser.parse_args()
    if args.command == "build":
        print(json.dumps(build(args.out), indent=1))


if __name__ == "__main__":
    main()

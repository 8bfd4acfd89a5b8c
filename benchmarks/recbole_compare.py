"""Time to quality: RecBole 1.2.1's BERT4Rec against animerec's training, same model size, same split.

Test NDCG@10 by full ranking after equal wall-clock training budgets, and the seconds each
needs to reach a validation NDCG@10, on ML-100K and on the shipped anime data:

    python benchmarks/recbole_compare.py [--datasets ml-100k anime] [--budgets 60 180 300]
        [--ml100k ../shared/data/bench/ml-100k/recbole_atomic] [--anime-data PREPROCESSED_FOLDER]

RecBole runs in its own virtual environment, made on first use (``--venv``, default
runs/recbole-venv), by benchmarks/recbole_runner.py. Every compute job uses one thread.

Same held-out items on both sides. ML-100K: each user's ratings in time order (ties in
the timestamp broken by the file's line order), written once as a RecBole .inter whose
timestamp is the position and once as a sequence file for ``animerec preprocess --holdout
last``; both hold out the last item for test and the one before for validation. Anime:
animerec's lists are sets with one random held-out test and validation item per user; the
.inter puts each user's training items first (in a seeded random order), then the
validation item, then the test item, so RecBole's leave-one-out split holds out the very
same items, but RecBole trains on that arbitrary order as a sequence (positions and all)
while animerec treats the list as a set.

Metrics: both sides rank the held-out item against every item, excluding the items the user
already has (animerec's protocol, training/evaluate.py); RecBole's own protocol for
sequential models excludes nothing, and that figure is printed beside it.

The GroupLens licence forbids copying ML-100K into this repository: it is read from
``--ml100k`` at run time, and the converted files go under ``--out`` (in runs/, ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cpu_model  # noqa: E402

THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
RECBOLE_PACKAGES = ("recbole==1.2.1", "numpy==1.26.*", "pandas==2.1.*", "scipy==1.13.*", "setuptools<81", "torch==2.13.0")
"""torch is pinned: an unpinned one may pull a multi-GB CUDA build."""


class Failure(Exception):
    """Stops the benchmark with one line and exit code 1."""


# --- data: per-user ordered lists, written for both systems ------------------------------------


def read_atomic_inter(path: Path) -> dict[str, list[str]]:
    """A RecBole .inter (user_id, item_id, timestamp columns) as each user's items in time order.

    Ties in the timestamp keep the file's order (a stable sort), so the order is the same on
    every run and on both sides.
    """
    if not path.is_file():
        raise Failure(f"{path}: no such file (pass --ml100k, the folder holding ml-100k.inter)")
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        names = [h.split(":")[0] for h in header]
        try:
            u, i, t = names.index("user_id"), names.index("item_id"), names.index("timestamp")
        except ValueError:
            raise Failure(f"{path}: expected user_id, item_id and timestamp columns, found {', '.join(names)}") from None
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    times = np.array([float(r[t]) for r in rows])
    order = np.argsort(times, kind="stable")
    sequences: dict[str, list[str]] = {}
    for k in order.tolist():
        sequences.setdefault(rows[k][u], []).append(rows[k][i])
    return sequences


def write_inter(sequences: dict[str, list[str]], path: Path) -> int:
    """Each user's items as a RecBole .inter whose timestamp is the item's position; rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, items in sequences.items():
            for position, item in enumerate(items):
                out.write(f"{user}\t{item}\t{position}\n")
            count += len(items)
    return count


def write_sequence(sequences: dict[str, list[str]], path: Path) -> None:
    """The same lists as ``animerec preprocess --format sequence`` reads them ('user item', in order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for user, items in sequences.items():
            out.writelines(f"{user} {item}\n" for item in items)


def user_ids(data) -> np.ndarray:
    """The raw user ids of a preprocessed folder, one per row of its splits."""
    return np.load(data.folder / "user_ids.npy", allow_pickle=False)


def animerec_sequences(data, seed: int = 0) -> dict[str, list[str]]:
    """A preprocessed (set) dataset as ordered lists: training items shuffled, then validation, then test.

    Users keyed by their raw id, items by their raw (MAL) id, so a leave-one-out split of the
    lists holds out exactly animerec's validation and test items.
    """
    rng = np.random.default_rng(seed)
    lists = {}
    parts = [data.splits[name] for name in ("train", "val", "test")]
    for row, user in enumerate(user_ids(data).tolist()):
        train_off, train_items = parts[0]
        own = rng.permutation(train_items[train_off[row] : train_off[row + 1]])
        held = [items[off[row] : off[row + 1]] for off, items in parts[1:]]
        dense = np.concatenate([own, *held])
        lists[str(user)] = [str(x) for x in data.item_ids[dense - 1].tolist()]
    return lists


def check_same_holdout(sequences: dict[str, list[str]], data) -> int:
    """Users whose animerec validation/test items differ from the lists' second-to-last/last; 0 when all agree."""
    users = [str(u) for u in user_ids(data).tolist()]
    differ = 0
    for row, user in enumerate(users):
        held = []
        for name in ("val", "test"):
            off, items = data.splits[name]
            held.append([str(data.item_ids[i - 1]) for i in items[off[row] : off[row + 1]].tolist()])
        differ += held != [[sequences[user][-2]], [sequences[user][-1]]]
    return differ + abs(len(users) - len(sequences))


# --- the two systems ------------------------------------------------------------------------------


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def child_env() -> dict:
    env = {**os.environ, **THREADS, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONPATH": str(REPO)}
    return env


def run_measured(command: list, log: Path, limit_s: float | None = None, cwd: Path = REPO) -> tuple[int, float, float]:
    """Run ``command`` (output to ``log``); SIGTERM it after ``limit_s``. Returns (exit code, seconds, peak RSS MB).

    SIGTERM, not SIGINT: a job started in the background with ``&`` ignores SIGINT, and so do its children.
    """
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen([str(c) for c in command], cwd=cwd, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
        interrupted = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if limit_s is not None and not interrupted and time.perf_counter() - started > limit_s:
                process.send_signal(signal.SIGTERM)  # animerec saves a checkpoint and stops
                interrupted = True
            time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def ensure_venv(venv: Path) -> Path:
    """RecBole's own virtual environment, made on first use; its python."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import recbole, torch; assert recbole.__version__ == '1.2.1'; print(torch.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True, env=child_env()).returncode == 0:
        return python
    print(f"making RecBole's virtual environment in {venv} (pip install {' '.join(RECBOLE_PACKAGES)})", flush=True)
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)], [str(python), "-m", "pip", "install", "-q", *RECBOLE_PACKAGES]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise Failure(f"could not make RecBole's virtual environment ({' '.join(step[:4])} ...): {last}")
    result = subprocess.run(probe, capture_output=True, text=True, env=child_env())
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise Failure(f"RecBole does not import in {venv}: {last}")
    return python


def run_recbole(python: Path, atomic_root: Path, name: str, settings: dict, marks: list[float], out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    results = out / "recbole.jsonl"
    results.unlink(missing_ok=True)
    config = {
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": settings["max_len"],
        "n_layers": settings["layers"], "n_heads": settings["heads"], "hidden_size": settings["hidden"], "inner_size": 4 * settings["hidden"],
        "loss_type": "CE", "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG", "Recall"], "topk": [10], "valid_metric": "NDCG@10",
        "train_batch_size": settings["recbole_batch"], "eval_batch_size": 256,
        "use_gpu": False, "device": "cpu", "worker": 0, "seed": 0, "reproducibility": True, "show_progress": False,
        "checkpoint_dir": str(out / "saved"), "save_dataset": False, "save_dataloaders": False, "log_wandb": False,
    }
    spec = out / "recbole_spec.json"
    spec.write_text(json.dumps({"data_path": str(atomic_root), "dataset": name, "config": config, "marks": marks, "out": str(results)}, indent=1))
    print(f"  [{time.strftime('%H:%M:%S')}] RecBole BERT4Rec to {max(marks):.0f} s of training (load {load()})", flush=True)
    # RecBole writes log_tensorboard/ into its working folder: keep that under ``out``.
    code, seconds, rss = run_measured([python, REPO / "benchmarks" / "recbole_runner.py", spec], out / "recbole.log", cwd=out)
    records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if code != 0 or not records:
        tail = (out / "recbole.log").read_text().strip().splitlines()[-1:] or ["no output"]
        raise Failure(f"RecBole failed (exit {code}; log {out / 'recbole.log'}): {tail[0]}")
    for r in records:
        print(f"    {r['train_s']:7.1f} s  epoch {r['epoch']} step {r['steps']}  valid {r['valid']['masked']['ndcg@10']:.4f}  "
              f"test {r['test']['masked']['ndcg@10']:.4f} (RecBole protocol {r['test']['native']['ndcg@10']:.4f})  load {r['load'][0]}")
    return {"records": records, "wall_s": seconds, "peak_rss_mb": rss}


def run_animerec(data: Path, train_args: list[str], budget: float, epoch_s: float, out: Path, limit_s: float | None = None,
                 epochs: int | None = None) -> dict:
    """One training run sized to fit ``budget`` seconds (interrupted well past it), evaluated on test."""
    epochs = epochs or max(1, int(budget // epoch_s))
    out.mkdir(parents=True, exist_ok=True)
    run = out / f"animerec-{budget:g}s"
    command = [sys.executable, "-m", "animerec_tui", "train", "--data", data, "--out", run, "--epochs", epochs, "--force", "--device", "cpu", *train_args]
    print(f"  [{time.strftime('%H:%M:%S')}] animerec {epochs} epochs for {budget:g} s (load {load()})", flush=True)
    code, seconds, rss = run_measured(command, out / f"animerec-{budget:g}s.log", limit_s=limit_s or budget * 1.1 + 30)
    history_file = run / "history.json"
    if not history_file.exists():  # an interrupted run keeps its history in the checkpoint's state
        checkpoints = sorted((run / "checkpoints").glob("e*")) if (run / "checkpoints").exists() else []
        state_file = checkpoints[-1] / "train_state.json" if checkpoints else None
        state = json.loads(state_file.read_text()) if state_file and state_file.exists() else {}
        history = state.get("history", [])
    else:
        history = json.loads(history_file.read_text())
    if code not in (0, 128 + signal.SIGTERM) or not history:
        tail = (out / f"animerec-{budget:g}s.log").read_text().strip().splitlines()[-1:] or ["no output"]
        raise Failure(f"animerec train failed (exit {code}): {tail[0]}")
    result = subprocess.run([sys.executable, "-m", "animerec_tui", "eval", "--run", str(run), "--json", "--no-baselines", "--device", "cpu"],
                            cwd=REPO, env=child_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise Failure(f"animerec eval failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    test = json.loads(result.stdout)
    metrics = test["models"]["bert4rec"] if "models" in test else test["metrics"]
    train_s = sum(h["seconds"] for h in history)
    best = max(history, key=lambda h: h["val_ndcg@10"])
    print(f"    {train_s:7.1f} s  {len(history)} epochs  best valid {best['val_ndcg@10']:.4f} (epoch {best['epoch']})  "
          f"test {metrics['ndcg@10']:.4f}  peak {rss:.0f} MB  load {load()}")
    return {"budget_s": budget, "epochs": len(history), "train_s": train_s, "history": history, "best_val": best["val_ndcg@10"],
            "test": {"ndcg@10": metrics["ndcg@10"], "recall@10": metrics["recall@10"]}, "peak_rss_mb": rss, "interrupted": code == 128 + signal.SIGTERM,
            "load": load()}


# --- a dataset end to end -----------------------------------------------------------------------


def prepare_ml100k(source: Path, out: Path) -> tuple[Path, Path, dict[str, list[str]]]:
    """(RecBole atomic root, animerec preprocessed folder, the lists) for ML-100K."""
    from training.data import load_dataset

    sequences = read_atomic_inter(source / "ml-100k.inter")
    atomic = out / "atomic"
    write_inter(sequences, atomic / "ml-100k" / "ml-100k.inter")
    write_sequence(sequences, out / "ml-100k.txt")
    pre = out / "animerec-data"
    result = subprocess.run([sys.executable, "-m", "animerec_tui", "preprocess", str(out / "ml-100k.txt"), "--format", "sequence",
                             "--min-user-items", "3", "--min-item-users", "1", "--holdout", "last", "--out", str(pre), "--force"],
                            cwd=REPO, env=child_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise Failure(f"animerec preprocess failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    data = load_dataset(pre)
    differ = check_same_holdout(sequences, data)
    if differ:
        raise Failure(f"ML-100K: {differ} users hold out different items in animerec and in the RecBole file")
    return atomic, pre, sequences


def prepare_anime(folder: Path | None, out: Path) -> tuple[Path, Path, dict[str, list[str]]]:
    from training.bundle import unpack
    from training.data import load_dataset
    from training.errors import UserError

    try:
        if folder is None:
            from animerec_tui.paths import data_dir

            folder = unpack(data_dir() / "training", out / "animerec-data")
        data = load_dataset(folder)
    except (UserError, OSError) as exc:
        raise Failure(f"anime data: {exc}") from None
    sequences = animerec_sequences(data)
    differ = check_same_holdout(sequences, data)
    if differ:
        raise Failure(f"anime: {differ} users hold out different items in animerec and in the RecBole file")
    atomic = out / "atomic"
    write_inter(sequences, atomic / "anime" / "anime.inter")
    return atomic, Path(folder), sequences


def first_reaching(points: list[tuple[float, float]], target: float) -> float | None:
    """The first training time whose NDCG@10 is at or above ``target``."""
    return next((t for t, v in sorted(points) if v >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=("ml-100k", "anime"), default=["ml-100k", "anime"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[60.0, 180.0, 300.0], help="training seconds")
    parser.add_argument("--marks", nargs="+", type=float, default=None, help="RecBole evaluation points [default: 30 s apart, plus the budgets]")
    parser.add_argument("--ml100k", type=Path, default=REPO.parent / "shared" / "data" / "bench" / "ml-100k" / "recbole_atomic")
    parser.add_argument("--anime-data", type=Path, default=None, help="animerec preprocessed folder [default: the shipped training data]")
    parser.add_argument("--venv", type=Path, default=REPO / "runs" / "recbole-venv")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "recbole-compare")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=50, help="items of history (animerec gets one more slot: its mask token)")
    parser.add_argument("--recbole-batch", type=int, nargs="+", default=[2048, 256],
                        help="RecBole train_batch_size, one run each [default: its default 2048, and 256]")
    parser.add_argument("--report", action="store_true", help="print the tables again from --out's summary.json files, training nothing")
    parser.add_argument("--target", type=float, nargs="+", default=None,
                        help="validation NDCG@10 values for time-to-target [default: 90%% of the lowest best]")
    args = parser.parse_args()
    args.out, args.venv, args.ml100k = args.out.resolve(), args.venv.resolve(), args.ml100k.resolve()
    args.anime_data = args.anime_data.resolve() if args.anime_data else None
    try:
        if args.report:
            for name in args.datasets:
                path = args.out / name / "summary.json"
                if not path.is_file():
                    raise Failure(f"{path}: no such file (run the comparison first)")
                report(name, json.loads(path.read_text()), sorted(args.budgets), args.target)
            return
        run(args)
    except Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


def run(args) -> None:
    if "ml-100k" in args.datasets and not (args.ml100k / "ml-100k.inter").is_file():
        raise Failure(f"{args.ml100k / 'ml-100k.inter'}: no such file (pass --ml100k, the folder holding RecBole's ml-100k atomic files)")
    if "anime" in args.datasets and args.anime_data is not None and not (args.anime_data / "manifest.json").is_file():
        raise Failure(f"{args.anime_data}: not a folder made by animerec preprocess (no manifest.json)")
    import torch

    for name, value in THREADS.items():
        os.environ[name] = value
    torch.set_num_threads(1)
    budgets = sorted(args.budgets)
    marks = sorted(set(args.marks or [*np.arange(30.0, max(budgets) + 1, 30.0).tolist(), *budgets]))
    marks = [m for m in marks if m <= max(budgets)]
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; threads per job: 1; load {load()}; torch {torch.__version__}")
    size = {"hidden": args.hidden, "layers": args.layers, "heads": args.heads, "max_len": args.max_len}
    print(f"model: hidden {args.hidden}, {args.layers} blocks, {args.heads} heads, FFN {4 * args.hidden}, {args.max_len} items of history")
    python = ensure_venv(args.venv)
    summary = {}
    for name in args.datasets:
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        print(f"\n== {name} ==", flush=True)
        if name == "ml-100k":
            atomic, pre, sequences = prepare_ml100k(args.ml100k, out)
            train_args = ["--hidden", args.hidden, "--layers", args.layers, "--heads", args.heads, "--max-len", args.max_len + 1,
                          "--batch-size", 128, "--lr", "1e-3", "--mask-prob", 0.2, "--dropout", 0.1, "--no-genres", "--positional"]
        else:
            atomic, pre, sequences = prepare_anime(args.anime_data, out)
            train_args = ["--hidden", args.hidden, "--layers", args.layers, "--heads", args.heads, "--max-len", args.max_len + 1, "--no-genres"]
        train_args = [str(a) for a in train_args]
        print(f"  {len(sequences):,} users, {sum(map(len, sequences.values())):,} interactions; same held-out items on both sides")
        # animerec's seconds per epoch (validation included): the second epoch of a 2-epoch run, then each run's median.
        calibration = run_animerec(pre, train_args, 2.0, 1.0, out / "calibrate", limit_s=900, epochs=2)
        epoch_s = calibration["history"][-1]["seconds"]
        # Interleaved: animerec at each budget, one RecBole run (all marks) per batch size between them.
        animerec_runs, recbole_runs = [], {}
        pending = list(args.recbole_batch)
        for budget in budgets:
            animerec_runs.append(run_animerec(pre, train_args, budget, epoch_s, out))
            epoch_s = float(np.median([h["seconds"] for h in animerec_runs[-1]["history"]]))
            if pending and (budget != budgets[-1] or len(budgets) == 1):
                batch = pending.pop(0)
                recbole_runs[batch] = run_recbole(python, atomic, name, {**size, "recbole_batch": batch}, marks, out / f"recbole-b{batch}")
        for batch in pending:
            recbole_runs[batch] = run_recbole(python, atomic, name, {**size, "recbole_batch": batch}, marks, out / f"recbole-b{batch}")
        summary[name] = {"animerec": animerec_runs, "recbole": recbole_runs, "calibration_epoch_s": epoch_s, "train_args": train_args}
        (out / "summary.json").write_text(json.dumps(summary[name], indent=1))
        report(name, summary[name], budgets, args.target)


def report(name: str, result: dict, budgets: list[float], target: list[float] | None) -> None:
    recbole = {int(b): rb for b, rb in result["recbole"].items()}
    print(f"\n### {name}: test NDCG@10 (full ranking, seen items excluded) after equal training budgets\n")
    head = "| budget | animerec: epochs, s used | animerec | " + " | ".join(f"RecBole b{b}: at best valid | RecBole b{b} | (its protocol)" for b in recbole) + " |"
    print(head)
    print("|" + "---|" * head.count(" | ") + "---|")
    for run in result["animerec"]:
        cells = [f"{run['budget_s']:.0f} s", f"{run['epochs']}, {run['train_s']:.0f} s", f"{run['test']['ndcg@10']:.4f}"]
        for rb in recbole.values():
            # RecBole gets as long as animerec took, when animerec's last epoch ran past the budget.
            within = [r for r in rb["records"] if r["train_s"] <= max(run["budget_s"], run["train_s"]) * 1.05]
            best = max(within, key=lambda r: r["valid"]["masked"]["ndcg@10"]) if within else None
            cells += ([f"{best['steps']} steps ({best['epoch']} whole epochs), {best['train_s']:.0f} s", f"{best['test']['masked']['ndcg@10']:.4f}",
                       f"{best['test']['native']['ndcg@10']:.4f}"] if best else ["nothing evaluated within the budget", "", ""])
        print("| " + " | ".join(cells) + " |")
    longest = result["animerec"][-1]
    points, elapsed = [], 0.0
    for h in longest["history"]:
        elapsed += h["seconds"]
        points.append((elapsed, h["val_ndcg@10"]))
    curves = {"animerec": points, **{f"RecBole b{b}": [(r["train_s"], r["valid"]["masked"]["ndcg@10"]) for r in rb["records"]] for b, rb in recbole.items()}}
    reach = min(max(v for _, v in c) for c in curves.values())
    for goal in target or [round(0.9 * reach, 3)]:
        print(f"\nseconds of training to first reach validation NDCG@10 {goal:.3f} (animerec: its {longest['budget_s']:.0f}-s run, each epoch; RecBole: its marks):")
        for label, curve in curves.items():
            t = first_reaching(curve, goal)
            print(f"  {label}: {'not reached' if t is None else f'{t:.1f} s'} (best {max(v for _, v in curve):.4f})")
    print(f"peak memory (max RSS): animerec {max(x['peak_rss_mb'] for x in result['animerec']):.0f} MB; "
          + "; ".join(f"RecBole b{b} {rb['peak_rss_mb']:.0f} MB" for b, rb in recbole.items()) + f"; load now {load()}")

if __name__ == "__main__":
    main()

"""Terminal charts (plotext): training curves and model-vs-baseline bars."""

from __future__ import annotations


def _fresh(width: int, height: int):
    import plotext as plt

    plt.clear_figure()
    plt.clear_color()
    plt.plotsize(width, height)
    return plt


def _line_chart(x: list, y: list, title: str, width: int, height: int) -> list[str]:
    plt = _fresh(width, height)
    plt.plot(x, y, marker="braille")
    plt.title(title)
    plt.xlabel("epoch")
    return plt.uncolorize(plt.build()).splitlines()


def training_chart(history: list[dict], width: int = 90, height: int = 22) -> str:
    """Training loss and validation NDCG@10 per epoch, side by side.

    Two separate charts joined line by line: plotext's subplot grid is global state that a
    one-point plot can leave broken for the next figure.
    """
    epochs = [h["epoch"] for h in history]
    half = width // 2
    left = _line_chart(epochs, [h["loss"] if h["loss"] is not None else 0.0 for h in history], "training loss", half, height)
    right = _line_chart(epochs, [h["val_ndcg@10"] for h in history], "validation NDCG@10", width - half, height)
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    return "\n".join(f"{a:<{half}}{b}".rstrip() for a, b in zip(left, right))


def metrics_bars(models: dict[str, dict], metrics=("ndcg@10", "recall@10"), width: int = 40) -> str:
    """Each model's metrics as horizontal bars, one block per metric, scaled to the largest value."""
    top = max((m[k] for m in models.values() for k in metrics), default=0.0) or 1.0
    name_width = max(len(n) for n in models)
    lines = []
    for metric in metrics:
        label = metric.replace("ndcg", "NDCG").replace("recall", "Recall")
        for row, (name, values) in enumerate(models.items()):
            bar = "█" * max(1, round(width * values[metric] / top))
            lines.append(f"{label if row == 0 else '':<10} {name:<{name_width}} {bar} {values[metric]:.4f}")
    return "\n".join(lines)

"""Terminal charts (plotext): training curves and model-vs-baseline bars."""

from __future__ import annotations


def _fresh(width: int, height: int):
    import plotext as plt

    plt.clear_figure()
    plt.clear_color()
    plt.plotsize(width, height)
    return plt


def training_chart(history: list[dict], width: int = 90, height: int = 22) -> str:
    """Training loss and validation NDCG@10 per epoch, side by side."""
    plt = _fresh(width, height)
    epochs = [h["epoch"] for h in history]
    plt.subplots(1, 2)
    plt.subplot(1, 1)
    plt.plot(epochs, [h["loss"] if h["loss"] is not None else 0.0 for h in history], marker="braille")
    plt.title("training loss")
    plt.xlabel("epoch")
    plt.subplot(1, 2)
    plt.plot(epochs, [h["val_ndcg@10"] for h in history], marker="braille")
    plt.title("validation NDCG@10")
    plt.xlabel("epoch")
    return plt.uncolorize(plt.build())


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

"""Preprocessing, model training and evaluation for animerec: the lower layer.

Nothing here imports Textual or the app package ``animerec_tui``; torch is imported only
by the modules that need it.
"""


def __getattr__(name: str) -> str:
    # The version is looked up when first asked for: importlib.metadata costs about 50 ms,
    # and `animerec --help` must not pay it.
    if name != "__version__":
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("animerec")
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found

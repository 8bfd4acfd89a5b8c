"""Preprocessing, model training and evaluation for animerec: the lower layer.

Nothing here imports Textual or the app package ``animerec_tui``; torch is imported only
by the modules that need it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("animerec")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

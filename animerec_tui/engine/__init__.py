"""The inference engine, by job: ``types`` (requests and results), ``backends`` (a model as
something that scores requests), ``columns`` (the catalogue as arrays, the filters),
``ranking`` (the list rules, each written once), ``reasons``, ``news`` (what is new in the
favourites' franchises) and ``core`` (``Engine``, which wires them). Never imports Textual."""

from animerec_tui.engine.core import Engine
from animerec_tui.engine.news import NEW_SINCE, FranchiseNews, NewEntry
from animerec_tui.engine.ranking import nth_largest, spread_order
from animerec_tui.engine.runtime import cyclic_gc_paused, default_model_dir, limit_blas_threads
from animerec_tui.engine.types import Filters, Pick, Picks, Recommendation, Result

__all__ = ["NEW_SINCE", "Engine", "Filters", "FranchiseNews", "NewEntry", "Pick", "Picks", "Recommendation", "Result", "cyclic_gc_paused", "default_model_dir", "limit_blas_threads", "nth_largest", "spread_order"]

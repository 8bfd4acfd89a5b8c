"""The Textual app. Only this package imports Textual; the engine never does."""

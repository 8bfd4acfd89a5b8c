"""Preprocessing, model training and evaluation for animerec.

Nothing here imports Textual; torch is imported only by the modules that need it.
"""

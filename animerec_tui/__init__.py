"""animerec: a personalised anime recommender for the terminal."""

__version__ = "0.1.0"

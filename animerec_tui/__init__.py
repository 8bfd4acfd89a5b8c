"""animerec: a personalised anime recommender for the terminal."""

from training import __version__ as __version__

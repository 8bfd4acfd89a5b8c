"""animerec: a personalised anime recommender for the terminal."""


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'animerec_tui' has no attribute {name!r}")
    import training

    return training.__version__

"""Silence the libraries' own progress bars and chatter; tunesmith reports progress itself."""


def quiet_libraries() -> None:
    """tunesmith prints its own progress; the libraries' per-file bars and deprecation chatter only add noise."""
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

"""Train: run a config through model, data, method and objective into a run directory."""

from tunesmith.training.run import resume_run, train

__all__ = ["train", "resume_run"]

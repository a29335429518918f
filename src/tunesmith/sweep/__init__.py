"""Hyper-parameter search: `tunesmith sweep` runs an Optuna study over any config field; each trial is a run."""

from tunesmith.sweep.run import open_study, run_sweep, sweep_folder

__all__ = ["open_study", "run_sweep", "sweep_folder"]

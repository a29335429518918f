"""Objectives decide what the model learns. Each file registers one or more Objective entries, and an Objective
holds every fact the rest of tunesmith needs about it, so no other package branches on an objective's name:

- the data it accepts (`schema`, a tunesmith.data.formats schema) and how it is prepared (`prepare_data`),
- the model class it trains (`model_kind`) and the PEFT task type (`task`), plus a new head's `model_kwargs`,
- its trainer (`build_trainer`), whether that trainer reports a loss on the test split (`test_loss`), and whether
  its loss is a cross-entropy that the divergence guard may call exploding (`cross_entropy`),
- how it is evaluated (`evaluation`: a task of tunesmith.evaluate.tasks by name, or a function),
- how it is served and exported (`serving`: generate, classify, score or None; recorded with the saved weights, so
  `tunesmith serve` and `tunesmith export` read it from the run without importing this package).

Adding an objective is one file that calls `register(Objective(...))`, imported at the bottom of this file (or
anywhere before the run starts: tests/objectives/toy_objective.py registers itself from outside the package).
"""

# Importing the files registers them.
from tunesmith.objectives import (  # noqa: E402,F401
                                          causal_lm,
                                          classification,
                                          preference,
                                          reinforce,
                                          seq2seq,
                                          sft,
)
from tunesmith.objectives.registry import (  # noqa: F401
                                          OBJECTIVES,
                                          Objective,
                                          get_objective,
                                          register,
                                          splits_as_datasets,
                                          test_split_loss,
                                          trainer_on,
)

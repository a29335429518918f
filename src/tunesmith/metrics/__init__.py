"""Metric functions over plain lists: text answers (text.py) and class predictions (classification.py).

The bottom layer of everything that measures: objectives use them for the trainer's validation metrics and rewards,
evaluate/ for base-vs-tuned comparisons. They import nothing of tunesmith's.
"""

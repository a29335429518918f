"""Continual fine-tuning: a sequence of tasks trained one after another (`tunesmith continual`), the accuracy matrix
after every stage, and mitigations of forgetting compared with plain sequential training."""

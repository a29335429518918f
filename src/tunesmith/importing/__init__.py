"""Bringing jobs from other tools over: `tunesmith import-openai` (openai_job.py)."""

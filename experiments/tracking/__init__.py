"""Tracking: the MLflow store, one run per job, the multirun parent, MLflow datasets and models, the
Optuna storage of a search, and atomic artifact files."""

"""Orchestration: Hydra jobs, MLflow tracking and the paper's studies (imports deepdrim and sim)."""

"""Orchestration: Hydra jobs, MLflow tracking and the paper's studies (imports deepdrim and sim)."""
import os as _os

from omegaconf import OmegaConf as _OmegaConf

# ${pid:} in conf/hydra/default.yaml: with microseconds, a job folder no other process shares
_OmegaConf.register_new_resolver("pid", lambda: str(_os.getpid()), replace=True)

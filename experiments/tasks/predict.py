"""``task=predict``: rank every candidate edge of a dataset, logged to MLflow.

DeepDRIM (or CNNC, ``method=cnnc``) is trained on all labelled pairs of the data, or loaded with
``model_path=DIR`` (a folder written by :meth:`DeepDRIM.save`, trained on the same genes) and then
scores each TF of the ground truth against every other gene of the expression. A baseline method
(``method=pcc`` ...) scores the same candidates without training. The output folder gets
``rankedEdges.csv`` (BEELINE's layout), the model (``model/``) and ``config.yaml``; all are
logged to one MLflow run.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from deepdrim.baselines import BASELINES
from deepdrim.estimator import DeepDRIM
from deepdrim.ranked_edges import candidate_tfs, labelled_metrics, score_candidates, write_ranked_edges
from deepdrim.data import Dataset, direction_pairs
from experiments.config import checks, degrade
from experiments.tracking import mlflow_dataset, mlflow_model, job_runs, mlflow_store
from experiments.config import data as job_data
from experiments.config.checks import SUPERVISED
from experiments.config.method import check, check_direction, estimator, method_label
from deepdrim.evaluation import link_probabilities

log = logging.getLogger(__name__)


def load_model(cfg: DictConfig, data: Dataset) -> DeepDRIM:
    """The saved model at ``model_path`` bound to this expression (one-line error when it is not a
    saved model or was trained on other genes)."""
    if mlflow_model.is_model_uri(cfg.model_path):  # runs:/<id>/model or models:/<name>/<version>
        path = mlflow_model.resolve_model_path(str(cfg.model_path), tracking_uri=mlflow_store.resolve_uri(cfg.tracking.uri))
    else:
        path = job_data.resolve_path(cfg.model_path, "model_path", "predict")
    try:
        return DeepDRIM.load(path, expression=data.expression)
    except ValueError as error:
        raise ValueError(str(error).splitlines()[0]) from None
    except Exception as error:  # noqa: BLE001 - a corrupt Keras file raises many types
        raise ValueError(f"{path}: cannot load the saved model ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from None


def _given_keys() -> set:
    """The keys the command line set (Hydra's task overrides; empty outside a Hydra job)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return {o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task}
    except (ImportError, ValueError):
        return set()


def adopt_saved_params(cfg: DictConfig, model: DeepDRIM) -> None:
    """The job's ``neighbors`` and ``model.*`` become the saved model's, so the run logs what it
    scored with; a ``neighbors=`` the command line gave that differs is a one-line error."""
    saved = int(model.n_neighbors)
    if "neighbors" in _given_keys() and cfg.get("neighbors") != saved:
        raise ValueError(f"neighbors={cfg.get('neighbors')}: the saved model {cfg.model_path} was trained with "
                         f"neighbors={saved} and scores with it; drop neighbors=")
    params = model.get_params()
    with open_dict(cfg):
        cfg.neighbors = saved
        for key in list(cfg.model):
            if key in params and not OmegaConf.is_interpolation(cfg.model, key):  # n_neighbors: ${neighbors}
                value = params[key]
                cfg.model[key] = list(value) if isinstance(value, tuple) else value


def validate(cfg: DictConfig, data: Dataset) -> None:
    """Everything checkable before a run starts (``ValueError`` with a one-line message)."""
    method = checks.method(cfg.get("method", "deepdrim"))
    if cfg.get("directed"):
        if method != "deepdrim" or cfg.get("model_path"):
            raise ValueError("directed=true trains the combined direction model (DeepDRIM existence, CNNC direction): "
                             "it takes method=deepdrim and no model_path")
        check_direction(cfg)
    if cfg.get("model_path") and method not in SUPERVISED:
        raise ValueError(f"model_path scores with a saved DeepDRIM model; method={method} takes no model")
    if not len(candidate_tfs(data)):
        raise ValueError("the data names no TF to rank targets for")
    if cfg.get("model_path"):  # the saved model brings its own neighbors
        degrade.check(cfg, data.expression.shape[0])
    else:
        check(cfg, *data.expression.shape)


def run(cfg: DictConfig, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=predict`` job: train (or load), rank all candidates, return the ranking's files
    for :func:`tracking.run_job` to log (never skipped: a prediction is cheap to redo)."""
    start = time.time()
    method = cfg.get("method", "deepdrim")
    data = degrade.job_dataset(cfg, lambda data: validate(cfg, data))
    model = load_model(cfg, data) if cfg.get("model_path") and method in SUPERVISED else None
    if model is not None:
        adopt_saved_params(cfg, model)
    n_genes = data.expression.shape[1]
    tfs = candidate_tfs(data)
    log.info("%s: ranking %d TFs x %d genes (%d candidate pairs)", data.source, len(tfs), n_genes,
             len(tfs) * (n_genes - 1))

    def compute() -> job_runs.JobResult:
        result = job_runs.JobResult({})
        mlflow_dataset.log_job_input(cfg.data, int(cfg.seed), data.expression)
        if cfg.get("directed"):
            return directed_ranking(cfg, data, output_dir, start, result)
        if method in SUPERVISED:
            trained = model
            if trained is None:
                trained = estimator(cfg)
                trained.fit(data.expression, data.pairs.pairs, data.pairs.labels,
                            epoch_callback=lambda epoch, logs: job_runs.log_metrics(logs, step=epoch))
                result.metrics["best_epoch"] = float(trained.best_epoch_)
                label = method_label(cfg)
                if getattr(trained, "failure_", None):  # its ranking is not a result (deepdrim.diagnostics)
                    result.tags["trust"] = "failed_to_learn"
                    result.tags["trust_line"] = f"{label} FAILED to learn ({trained.failure_})"
                    print(f"{label} FAILED to learn ({trained.failure_}): its ranking is not a result")
            else:
                result.tags["model_path"] = str(cfg.model_path)
                label = f"saved model neighbors={trained.n_neighbors}"
            pairs, scores = score_candidates(lambda p: link_probabilities(trained.predict_proba(p)), tfs, n_genes, label)
            model_dir = trained.save(output_dir / "model")
            if cfg.tracking.get("log_model", True):  # an MLflow pyfunc model: mlflow.pyfunc.load_model("runs:/<id>/model")
                mlflow_model.log_deepdrim_model(trained, data.expression,
                                                registered_model_name=cfg.tracking.get("register_model"))
            else:
                result.folders["model"] = model_dir
            result.tags["model_dir"] = str(model_dir)
        else:
            expression = data.expression.to_numpy()
            pairs, scores = score_candidates(lambda p: BASELINES[method](expression, p, random_state=int(cfg.seed)),
                                             tfs, n_genes, method, chunk_pairs=len(tfs) * n_genes)
        tf, target = data.pair_names(pairs)
        result.files.append(write_ranked_edges(output_dir / "rankedEdges.csv", tf, target, scores))
        result.metrics.update(labelled_metrics(data, pairs, scores))
        result.metrics.update(n_candidates=float(len(pairs)), n_tfs=float(len(tfs)), n_genes=float(n_genes),
                              wall_seconds=time.time() - start)
        model_dir = result.tags.get("model_dir")
        print(f"predict {method}: {len(pairs)} candidate edges of {len(tfs)} TFs ranked -> "
              f"{output_dir / 'rankedEdges.csv'}" + (f" (model: {model_dir})" if model_dir else "")
              + f" wall={result.metrics['wall_seconds']:.1f}s")
        return result

    return job_runs.run_job(cfg, output_dir, overrides, "predict", compute, resume=False,
                            tags={"data_source": data.source, "method": method})


def directed_ranking(cfg: DictConfig, data: Dataset, output_dir: Path, start: float,
                     result: job_runs.JobResult) -> job_runs.JobResult:
    """``directed=true``: the combined direction model (:class:`deepdrim.direction.DirectionClassifier`,
    existence from DeepDRIM, direction from CNNC) trained on every directed TF pair of the data, then
    every ordered pair of two TFs ranked by P(a -> b): a directed ``rankedEdges.csv``."""
    from deepdrim.direction import DirectionClassifier

    pairs = direction_pairs(data, int(cfg.seed), int(cfg.cv.n_folds))
    model = DirectionClassifier(estimator(cfg), estimator(cfg, n_neighbors=0))
    model.fit(data.expression.to_numpy(), pairs.pairs, pairs.classes)
    failures = [f"{head} ({fitted.failure_})" for head, fitted in (("existence", model.existence_),
                                                                   ("direction", model.direction_)) if fitted.failure_]
    if failures:
        result.tags.update(trust="failed_to_learn", trust_line=f"FAILED to learn: {'; '.join(failures)}")
        print(f"directed ranking: FAILED to learn: {'; '.join(failures)}: its ranking is not a result")
    tfs = candidate_tfs(data)
    a, b = np.repeat(tfs, len(tfs)), np.tile(tfs, len(tfs))
    candidates = np.column_stack([a[a != b], b[a != b]])
    forward = model.predict_proba(candidates)[:, 1]
    tf, target = data.pair_names(candidates)
    result.files.append(write_ranked_edges(output_dir / "rankedEdges.csv", tf, target, forward))
    result.metrics.update(n_candidates=float(len(candidates)), n_tfs=float(len(tfs)), n_training_pairs=float(len(pairs)),
                          wall_seconds=time.time() - start)
    print(f"predict directed: {len(candidates)} ordered TF pairs of {len(tfs)} TFs ranked by P(a -> b) -> "
          f"{output_dir / 'rankedEdges.csv'} wall={result.metrics['wall_seconds']:.1f}s")
    return result

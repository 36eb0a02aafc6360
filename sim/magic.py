"""MAGIC imputation (the paper's robustness study imputes raw counts before BoolODE dropout).

Runs the real ``magic`` package (magic-impute) after MAGIC's recommended preprocessing, with an
optional on-disk cache because MAGIC on a full template (thousands of cells) is slow and every
robustness setting starts from the same imputed matrix.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import warnings
from functools import partial
from pathlib import Path
from typing import Optional, Union

import numpy as np

from deepdrim._validation import check_integer, check_real
from deepdrim.files import atomic_write

logger = logging.getLogger(__name__)

RandomState = Union[None, int, np.random.Generator]


def _steps(name: str, value):
    """MAGIC's diffusion time: an integer >= 1 or 'auto'."""
    return value if value == "auto" and isinstance(value, str) else check_integer(name, value, minimum=1)


#: each parameter's rule, check(name, value): magic_impute's checks, and run.py's of the ``magic.*`` keys
PARAMETERS = {"knn": partial(check_integer, minimum=1), "t": _steps,
              "decay": partial(check_real, low=0, low_open=True, nullable=True),
              "n_pca": partial(check_integer, minimum=1, nullable=True)}
_CACHE_FORMAT = 1  # bump when the computation changes so old cache files are not reused


def _as_matrix(counts) -> np.ndarray:
    arr = counts.to_numpy() if hasattr(counts, "to_numpy") and hasattr(counts, "columns") else np.asarray(counts)
    if arr.ndim != 2:
        raise ValueError(f"counts must be a 2-D cells x genes matrix, got {arr.ndim} dimension(s)")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"counts must be real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def _seed(random_state: RandomState) -> Optional[int]:
    """MAGIC takes an int seed: None and ints pass through, a Generator gives one drawn int."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    raise ValueError(f"random_state must be None, a non-negative int or a numpy Generator, got {random_state!r}")


def _params(arr: np.ndarray, knn, decay, t, n_pca, normalize, sqrt, random_state) -> dict:
    """Validated MAGIC parameters (n_pca resolved to what is actually run) for running and keying."""
    n_cells, n_genes = arr.shape
    for name, value in (("knn", knn), ("t", t), ("decay", decay), ("n_pca", n_pca)):
        PARAMETERS[name](name, value)
    if knn > n_cells - 2:
        raise ValueError(f"knn={knn} needs at least {knn + 2} cells, counts has {n_cells}")
    # PCA only when it reduces the data (as MAGIC/graphtools would silently decide otherwise)
    effective_pca = int(n_pca) if n_pca is not None and n_pca < min(n_cells, n_genes) else None
    return {
        "knn": int(knn),
        "decay": None if decay is None else float(decay),
        "t": t if t == "auto" else int(t),
        "n_pca": effective_pca,
        "normalize": bool(normalize),
        "sqrt": bool(sqrt),
        "random_state": _seed(random_state),
    }


def _cache_key(arr: np.ndarray, params: dict) -> str:
    import magic

    digest = hashlib.sha256()
    digest.update(arr.tobytes())
    header = {
        "shape": arr.shape,
        "dtype": arr.dtype.str,
        "params": params,
        "magic": magic.__version__,
        "format": _CACHE_FORMAT,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    return digest.hexdigest()


def magic_cache_path(counts, cache_dir: Union[str, os.PathLike], **magic_params) -> Path:
    """Cache file ``<cache_dir>/magic-<sha256>.npy`` of :func:`magic_impute` for these inputs;
    ``magic_params`` are :func:`magic_impute`'s keywords that change the result (``knn``,
    ``decay``, ``t``, ``n_pca``, ``normalize``, ``sqrt``, ``random_state``; defaults as there).

    The key hashes the counts' bytes, shape and dtype, every parameter that changes the result
    (not ``n_jobs``) and the magic version. A Generator ``random_state`` is keyed by the int
    seed drawn from it, so only int seeds give reusable keys.
    """
    unknown = sorted(set(magic_params) - set(_KEYED_DEFAULTS))
    if unknown:
        raise TypeError(f"magic_cache_path got unexpected keyword(s) {', '.join(unknown)}; "
                        f"expected some of {', '.join(_KEYED_DEFAULTS)}")
    arr = _as_matrix(counts)
    params = _params(arr, **{**_KEYED_DEFAULTS, **magic_params})
    return Path(cache_dir) / f"magic-{_cache_key(arr, params)}.npy"


def _preprocess(arr: np.ndarray, normalize: bool, sqrt: bool) -> np.ndarray:
    data = arr.astype(np.float64)  # a copy: the input is never modified
    if not np.isfinite(data).all():
        raise ValueError("counts has non-finite value(s)")
    if normalize:
        import scprep

        if (data < 0).any():
            n_neg = int((data < 0).sum())
            raise ValueError(f"counts has {n_neg} negative value(s); library-size normalisation needs counts >= 0")
        # a cell with no counts has no library size to divide by: it stays 0 and the others are
        # normalised to their median library size, as scanpy's normalize_total does (real and
        # SERGIO UMI data have such cells)
        empty = data.sum(axis=1) == 0
        if empty.all():
            raise ValueError(f"counts has zero library size in all {len(data)} cells")
        if empty.any():
            logger.warning("%d of %d cells have zero library size: left at 0 by the normalisation",
                           int(empty.sum()), len(data))
        data[~empty] = np.asarray(scprep.normalize.library_size_normalize(data[~empty]), dtype=np.float64)
    if sqrt:
        if (data < 0).any():
            raise ValueError(f"counts has {int((data < 0).sum())} negative value(s); sqrt needs values >= 0")
        data = np.sqrt(data)
    return data


def _run_magic(data: np.ndarray, params: dict, n_jobs: int) -> np.ndarray:
    import magic

    operator = magic.MAGIC(
        knn=params["knn"],
        decay=params["decay"],
        t=params["t"],
        n_pca=params["n_pca"],
        random_state=params["random_state"],
        n_jobs=n_jobs,
        verbose=0,
    )
    with warnings.catch_warnings():  # keep MAGIC/graphtools quiet (their warnings are about defaults)
        warnings.simplefilter("ignore")
        imputed = operator.fit_transform(data, genes="all_genes")
    return np.clip(np.asarray(imputed, dtype=np.float64), 0.0, None)




def magic_impute(
    counts,
    *,
    knn: int = 5,
    decay: Optional[float] = 1,
    t: Union[int, str] = 3,
    n_pca: Optional[int] = 100,
    normalize: bool = True,
    sqrt: bool = True,
    random_state: RandomState = None,
    cache_dir: Union[None, str, os.PathLike] = None,
    n_jobs: int = 1,
) -> np.ndarray:
    """MAGIC-imputed cells x genes float64 of raw ``counts`` (array or DataFrame), negatives clipped to 0.

    Preprocessing as MAGIC recommends (library-size normalisation, then square root, each
    skippable), so the output is in that preprocessed scale, not counts. PCA to ``n_pca`` only
    when n_pca < min(cells, genes). With ``cache_dir`` the result is read from / written
    atomically to :func:`magic_cache_path`.
    """
    arr = _as_matrix(counts)
    params = _params(arr, knn, decay, t, n_pca, normalize, sqrt, random_state)
    data = _preprocess(arr, normalize, sqrt)  # validates before any cache lookup
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"magic-{_cache_key(arr, params)}.npy"
        if path.is_file():
            try:
                cached = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                logger.warning("MAGIC cache unreadable (%s), recomputing: %s", err, path)
            else:
                if cached.shape == arr.shape:
                    logger.info("MAGIC cache hit: %s", path)
                    return cached
                logger.warning(
                    "MAGIC cache file has shape %s, expected %s; recomputing: %s", cached.shape, arr.shape, path
                )
        logger.info("MAGIC cache miss: %s", path)
    result = _run_magic(data, params, n_jobs)
    if path is not None:
        atomic_write(path, lambda tmp: np.save(tmp, result))
    return result


#: magic_impute's keywords that key the cache, with their defaults
_KEYED_DEFAULTS = {k: v.default for k, v in inspect.signature(magic_impute).parameters.items()
                   if k not in ("counts", "cache_dir", "n_jobs")}

__all__ = ["magic_impute", "magic_cache_path"]

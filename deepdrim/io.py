"""Reading expression + ground-truth networks.

Three input layouts give one :class:`deepdrim.data.Dataset`:

* :func:`read_beeline` - a BEELINE folder (``ExpressionData.csv`` genes x cells, ``refNetwork.csv``
  or ``GroundTruthNetwork.csv``, optional ``PseudoTime.csv``);
* :func:`read_h5ad` - an AnnData file (cells x genes) plus a network CSV as BEELINE's;
* :func:`read_reference` - the DeepDRIM reference code's files (expression CSV genes x cells,
  ``geneA geneB label`` pair file, optional TF divide-position file).

:func:`write_beeline` writes a BEELINE folder (:func:`deepdrim.ranked_edges.write_ranked_edges`
BEELINE's ``rankedEdges.csv``). Every error is a one-line
``ValueError``, or ``FileNotFoundError`` naming the missing file; nothing is written on error.
Dropped network rows (self-loops, duplicates, genes absent from the expression) are counted in
the ``deepdrim.io`` log.
"""
from __future__ import annotations

import csv
import logging
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim._validation import check_expression
from deepdrim.data import Dataset, check_varies, edge_table, reference_pairs, with_pairs
from deepdrim.files import write_csv

logger = logging.getLogger(__name__)

EXPRESSION_FILE = "ExpressionData.csv"
NETWORK_FILES = ("refNetwork.csv", "GroundTruthNetwork.csv")
PSEUDOTIME_FILE = "PseudoTime.csv"
_SIGNS = {"+": 1, "-": -1, "": 0}


# ----------------------------------------------------------------------------------------------
# helpers


def _existing(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _duplicates(names) -> list:
    series = pd.Series(list(names), dtype=object)
    return list(dict.fromkeys(series[series.duplicated()]))


def _expression_frame(values, cells, genes, path) -> pd.DataFrame:
    """Validated cells x genes float64 DataFrame; errors name ``path``."""
    dup_cells = _duplicates(cells)
    if dup_cells:
        raise ValueError(f"{path}: {len(dup_cells)} duplicate cell name(s), e.g. {dup_cells[:3]}")
    dup_genes = _duplicates(genes)
    if dup_genes:
        raise ValueError(f"{path}: {len(dup_genes)} duplicate gene name(s), e.g. {dup_genes[:3]}")
    try:
        checked, _ = check_expression(values)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return pd.DataFrame(checked, index=pd.Index(cells, dtype=object), columns=pd.Index(genes, dtype=object))


def _read_genes_by_cells(path: Path) -> pd.DataFrame:
    """A genes x cells CSV (first column gene names, header cell names) as a cells x genes frame."""
    with open(path, newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header or len(header) < 2:
        raise ValueError(f"{path}: empty or malformed expression file (need a header row of cell names)")
    try:
        # names stay strings ("001", "NA"); an empty or "NA" value stays text and is reported below
        frame = pd.read_csv(path, index_col=0, dtype={0: str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: malformed expression CSV ({_first_line(err)})") from None
    if frame.shape[1] != len(header) - 1:
        raise ValueError(
            f"{path}: malformed expression CSV (header has {len(header) - 1} cells, rows have {frame.shape[1]})"
        )
    text = frame.columns[frame.dtypes == object]  # columns pandas could not read as numbers
    if len(text):
        coerced = frame[text].apply(pd.to_numeric, errors="coerce")
        bad = (coerced.isna() & frame[text].notna()).to_numpy()
        if bad.any():
            row, col = np.argwhere(bad)[0]
            column = frame.columns.get_loc(text[col])
            raise ValueError(
                f"{path}: {int(bad.sum())} non-numeric value(s), e.g. {frame.iat[row, column]!r} "
                f"(gene {frame.index[row]!r}, cell {header[1 + column]!r})"
            )
        frame[text] = coerced
    return _expression_frame(frame.to_numpy(dtype=np.float64).T, header[1:], [str(g) for g in frame.index], path)


def _clean_pairs(frame: pd.DataFrame, genes, path, what: str, required: bool = True) -> pd.DataFrame:
    """Drop self-loops, repeated (tf, target) rows (first kept) and rows naming genes absent from
    the expression, logging each count; ValueError when nothing remains and ``required``."""
    n_rows = len(frame)
    loops = frame["tf"] == frame["target"]
    if loops.any():
        logger.info("%s: ignored %d self-loop(s)", path, int(loops.sum()))
    frame = frame[~loops]
    repeated = frame.duplicated(["tf", "target"])
    if repeated.any():
        logger.info("%s: ignored %d duplicate %s(s)", path, int(repeated.sum()), what)
    frame = frame[~repeated]
    known = set(genes)
    present = frame["tf"].isin(known) & frame["target"].isin(known)
    if not present.all():
        absent = sorted(set(frame.loc[~present, ["tf", "target"]].to_numpy().ravel()) - known)
        logger.warning(
            "%s: dropped %d %s(s) naming %d gene(s) absent from the expression, e.g. %s",
            path, int((~present).sum()), what, len(absent), absent[:3],
        )
    frame = frame[present]
    if frame.empty and required:
        raise ValueError(
            f"{path}: none of its {n_rows} {what}(s) remain after dropping self-loops "
            "and genes absent from the expression"
        )
    return frame.reset_index(drop=True)


def _read_network(path, genes) -> pd.DataFrame:
    """BEELINE network CSV (Gene1, Gene2[, Type '+'/'-']) as cleaned edges ``tf, target, sign``."""
    path = _existing(path, "network file")
    try:
        net = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty network file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: malformed network file ({_first_line(err)})") from None
    net.columns = [str(c).strip() for c in net.columns]
    if not {"Gene1", "Gene2"} <= set(net.columns):
        raise ValueError(f"{path}: malformed network file, needs columns Gene1,Gene2[,Type], got {list(net.columns)}")
    if net.empty:
        raise ValueError(f"{path}: empty network file (header only, no edges)")
    tf, target = net["Gene1"].str.strip(), net["Gene2"].str.strip()
    unnamed = (tf == "") | (target == "")
    if unnamed.any():
        raise ValueError(f"{path}: malformed network file, {int(unnamed.sum())} row(s) with an empty gene name")
    kind = net["Type"].str.strip() if "Type" in net.columns else pd.Series("", index=net.index)
    unknown = sorted(set(kind) - set(_SIGNS))
    if unknown:
        raise ValueError(f"{path}: malformed network file, Type must be '+' or '-', got {unknown[:3]}")
    edges = pd.DataFrame({"tf": tf, "target": target, "sign": kind.map(_SIGNS).astype(np.int64)})
    return _clean_pairs(edges, genes, path, "edge")


def _distinct(values) -> list:
    return list(dict.fromkeys(values))


# ----------------------------------------------------------------------------------------------
# readers


def beeline_network_path(folder, network=None) -> Path:
    """The network file of a BEELINE folder: ``network`` when given (a path relative to the folder,
    e.g. ``networks/STRING.BL--network.csv``, or absolute), else ``refNetwork.csv`` or
    ``GroundTruthNetwork.csv`` in the folder. ``FileNotFoundError`` naming what was looked for."""
    folder = Path(folder)
    if network is not None:
        path = Path(network).expanduser()
        path = path if path.is_absolute() else folder / path
        if not path.is_file():
            raise FileNotFoundError(f"network file not found: {path}")
        return path
    found = next((folder / name for name in NETWORK_FILES if (folder / name).is_file()), None)
    if found is None:
        raise FileNotFoundError(f"BEELINE network file not found: {folder / NETWORK_FILES[0]} (or {NETWORK_FILES[1]})")
    return found


def read_beeline(folder, network=None) -> Dataset:
    """A BEELINE input folder as a :class:`Dataset`.

    ``ExpressionData.csv``: genes as rows, cells as columns, first column gene names; BEELINE's
    processed (already log-transformed, non-negative) values are read as they are.
    ``refNetwork.csv`` (else ``GroundTruthNetwork.csv``; or the file ``network``, relative to the
    folder or absolute, e.g. one of BEELINE's ``networks/*.csv`` variants): columns ``Gene1``
    (regulator), ``Gene2`` (target) and optional ``Type`` ('+' -> sign 1, '-' -> -1, missing -> 0);
    other columns (e.g. ``Score``) are ignored; self-loops, repeated rows and rows naming genes
    absent from the expression are dropped (counts logged). ``PseudoTime.csv`` is kept when present.
    """
    start = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"BEELINE folder not found: {folder}")
    expression = _read_genes_by_cells(_existing(folder / EXPRESSION_FILE, "BEELINE expression file"))
    network = beeline_network_path(folder, network)
    edges = _read_network(network, expression.columns)
    pseudotime = None
    if (folder / PSEUDOTIME_FILE).is_file():
        try:
            pseudotime = pd.read_csv(folder / PSEUDOTIME_FILE, index_col=0)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ValueError(f"{folder / PSEUDOTIME_FILE}: malformed pseudotime file ({_first_line(err)})") from None
    logger.info(
        "read BEELINE %s: %d cells x %d genes, %d edges of %s in %.2fs",
        folder, *expression.shape, len(edges), network.name, time.perf_counter() - start,
    )
    default = network.parent == folder and network.name in NETWORK_FILES
    source = f"beeline:{folder}" + ("" if default else f" network={network}")
    return Dataset(expression, edges, _distinct(edges["tf"]), source, pseudotime)


def read_h5ad(path, network=None, *, layer: Optional[str] = None) -> Dataset:
    """An AnnData ``.h5ad`` (cells x genes) as a :class:`Dataset`.

    Values from ``X`` or the named ``layer`` (sparse matrices are made dense); gene names from
    ``var_names``, cell names from ``obs_names``. ``network`` is a network CSV as BEELINE's (see
    :func:`read_beeline`); without one, ``edges`` is empty.
    """
    import anndata
    import scipy.sparse

    start = time.perf_counter()
    path = _existing(path, "h5ad file")
    try:
        adata = anndata.read_h5ad(path)
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .h5ad file ({_first_line(err)})") from None
    if layer is None:
        matrix = adata.X
    elif layer in adata.layers:
        matrix = adata.layers[layer]
    else:
        raise ValueError(f"{path}: no layer {layer!r}; layers: {list(adata.layers.keys()) or 'none'}")
    if matrix is None:
        raise ValueError(f"{path}: the AnnData has no X matrix; name a layer")
    if scipy.sparse.issparse(matrix):
        matrix = matrix.toarray()
    cells, genes = [str(c) for c in adata.obs_names], [str(g) for g in adata.var_names]
    expression = _expression_frame(np.asarray(matrix), cells, genes, path)
    edges = edge_table([], []) if network is None else _read_network(network, expression.columns)
    logger.info(
        "read h5ad %s: %d cells x %d genes, %d edges in %.2fs",
        path, *expression.shape, len(edges), time.perf_counter() - start,
    )
    return Dataset(expression, edges, _distinct(edges["tf"]), f"h5ad:{path}" + (f"[{layer}]" if layer else ""))


def _nonblank_lines(path):
    """(line number, whitespace-split fields) of each non-blank line of a text file."""
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if fields:
                yield number, fields


def _read_divide_positions(path) -> list:
    path = _existing(path, "TF divide-position file")
    positions = []
    for number, fields in _nonblank_lines(path):
        try:
            positions.append(int(fields[0]))
        except ValueError:
            raise ValueError(
                f"{path}: line {number}: divide position must be an integer, got {fields[0]!r}"
            ) from None
    if not positions:
        raise ValueError(f"{path}: empty TF divide-position file")
    return positions


def _read_pair_file(path) -> pd.DataFrame:
    """``geneA geneB label`` lines (whitespace separated) as ``tf, target, label`` (names lower-cased)."""
    path = _existing(path, "pair file")
    rows = []
    for number, fields in _nonblank_lines(path):
        if len(fields) < 3 or fields[2] not in ("0", "1", "2"):
            raise ValueError(
                f"{path}: line {number}: malformed pair, expected 'geneA geneB label' with label 0, 1 or 2"
            )
        rows.append((fields[0].lower(), fields[1].lower(), int(fields[2])))
    if not rows:
        raise ValueError(f"{path}: empty pair file")
    return pd.DataFrame(rows, columns=["tf", "target", "label"])


def read_reference(expression_csv, pairs_file, divide_file=None) -> Dataset:
    """The DeepDRIM reference code's inputs as a :class:`Dataset` with labelled ``pairs``.

    ``expression_csv``: genes as rows, cells as columns, first column gene names.
    ``pairs_file``: lines ``geneA geneB label`` (whitespace separated); label 1 = edge A->B,
    0 = non-edge, 2 = the reverse direction (edge B->A). ``pairs`` holds the label 0/1 rows (the
    binary task); ``edges`` the directed edges of labels 1 and 2 (:mod:`deepdrim.direction`). Gene
    names are matched case-insensitively, as the reference does, by lower-casing both sides; when that merges
    distinct expression genes the first is kept and a warning says how many were dropped.
    ``divide_file`` (the TF divide positions) is only checked to hold integers: pairs are
    regrouped by TF downstream. ``edges`` have sign 0 (unknown).
    """
    start = time.perf_counter()
    expression = _read_genes_by_cells(_existing(expression_csv, "expression file"))
    pairs = _read_pair_file(pairs_file)
    if divide_file is not None:
        _read_divide_positions(divide_file)
    lowered = expression.columns.str.lower()
    merged = lowered.duplicated()
    if merged.any():
        examples = list(expression.columns[merged][:3])
        warnings.warn(
            f"{expression_csv}: lower-casing gene names merges {int(merged.sum())} gene(s) into others "
            f"(first kept), e.g. {examples}",
            stacklevel=2,
        )
    expression = expression.loc[:, ~merged]
    expression.columns = lowered[~merged]
    reverse = pairs["label"] == 2
    back = _clean_pairs(pairs[reverse], expression.columns, pairs_file, "reverse pair", required=False)
    if reverse.any():
        logger.info("%s: %d reverse-direction pair(s) (label 2), %d read as edges geneB -> geneA", pairs_file,
                    int(reverse.sum()), len(back))
    pairs = _clean_pairs(pairs[~reverse], expression.columns, pairs_file, "pair")
    edges = pd.concat([pairs.loc[pairs["label"] == 1, ["tf", "target"]],
                       pd.DataFrame({"tf": back["target"], "target": back["tf"]})]).drop_duplicates()
    edges = edges.reset_index(drop=True)
    edges["sign"] = np.int64(0)
    logger.info(
        "read reference %s: %d cells x %d genes, %d pairs (%d edges) in %.2fs",
        expression_csv, *expression.shape, len(pairs), len(edges), time.perf_counter() - start,
    )
    return Dataset(expression, edges, _distinct(pairs["tf"]), f"reference:{expression_csv}",
                   pairs=reference_pairs(list(expression.columns), pairs))


# ----------------------------------------------------------------------------------------------
# a job's data: read, checked to vary, with labelled pairs (the targets of conf/data/*.yaml)


def _paired(data: Dataset, negatives: str, max_tfs: Optional[int], random_state: int, kind: str = "") -> Dataset:
    data = with_pairs(check_varies(data), negatives, max_tfs, random_state)
    return replace(data, source=f"{kind} {data.source}") if kind else data


def load_beeline(path, network=None, *, negatives: str = "balanced", max_tfs: Optional[int] = None,
                 random_state: int = 0) -> Dataset:
    """:func:`read_beeline` with labelled pairs: the network's edges and ``negatives`` drawn by
    ``random_state`` (:func:`deepdrim.data.with_pairs`), of ``max_tfs`` TFs drawn by it when set."""
    return _paired(read_beeline(path, network), negatives, max_tfs, random_state, "beeline")


def load_h5ad(path, network, *, layer: Optional[str] = None, negatives: str = "balanced",
              max_tfs: Optional[int] = None, random_state: int = 0) -> Dataset:
    """:func:`read_h5ad` with labelled pairs, as :func:`load_beeline`."""
    return _paired(read_h5ad(path, network, layer=layer), negatives, max_tfs, random_state, "h5ad")


def load_reference(path, pairs, divide=None, *, max_tfs: Optional[int] = None, random_state: int = 0) -> Dataset:
    """:func:`read_reference` with its pair file's labels as given (of ``max_tfs`` TFs drawn by
    ``random_state`` when set)."""
    return _paired(read_reference(path, pairs, divide), "balanced", max_tfs, random_state)


def write_beeline(folder, expression: pd.DataFrame, edges, signs=None, pseudotime=None) -> Path:
    """Write a BEELINE folder (``ExpressionData.csv`` genes x cells, ``refNetwork.csv``, and
    ``PseudoTime.csv`` when given), each file atomically, for :func:`read_beeline` and BEELINE's
    own tools: e.g. a simulation."""
    folder = Path(folder)
    edges = list(edges)
    signs = np.ones(len(edges), dtype=int) if signs is None else np.asarray(signs)
    cells = [f"cell{i}" for i in range(len(expression))] if isinstance(expression.index, pd.RangeIndex) \
        else [str(c) for c in expression.index]
    genes_by_cells = pd.DataFrame(expression.to_numpy().T, index=[str(g) for g in expression.columns], columns=cells)
    write_csv(genes_by_cells.reset_index(names=""), folder / EXPRESSION_FILE)
    network = pd.DataFrame({"Gene1": [a for a, _ in edges], "Gene2": [b for _, b in edges],
                            "Type": np.where(signs < 0, "-", "+")})
    write_csv(network, folder / NETWORK_FILES[0])
    if pseudotime is not None:
        write_csv(pd.DataFrame({"": cells, "PseudoTime": np.asarray(pseudotime, dtype=float)}),
                  folder / PSEUDOTIME_FILE)
    return folder


__all__ = ["beeline_network_path", "read_beeline", "read_h5ad", "read_reference", "load_beeline", "load_h5ad",
           "load_reference", "write_beeline"]

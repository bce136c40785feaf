"""A champion's fitted Spark ML pipeline and classifier, read from its saved files and run in numpy.

The live consumer scores every packet within a second of its arrival; a Spark job per
micro-batch would spend most of that second planning. So the consumer reads the fitted stages
Spark ML saved (the same files MLflow holds for the champion: indexer labels, one-hot sizes,
scaler mean and std, quantile splits, logistic-regression coefficients, random-forest nodes)
and applies them with numpy, exactly as Spark's own ``transform`` would. A Keras or XGBoost
champion reads the vector it was trained on (standardised, or with quantile bins) the same way
and predicts in process. A stage this module does not know is refused with its class name,
never approximated; tests/detection checks the probabilities against Spark's on the corpus.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mqttids.schema import LABELS

Columns = dict[str, np.ndarray]  # column name -> (rows,) values or a (rows, k) matrix


class UnsupportedStage(ValueError):
    """A saved stage (or parameter) this module cannot run; live scoring needs a supported champion."""


def _metadata(stage_dir: Path) -> dict:
    part = next((stage_dir / "metadata").glob("part-*"))
    return json.loads(part.read_text().splitlines()[0])


def _param(meta: dict, name: str):
    if name in meta.get("paramMap", {}):
        return meta["paramMap"][name]
    return meta.get("defaultParamMap", {}).get(name)


def _data(stage_dir: Path) -> dict:
    """The stage's one data row (pyarrow reads Spark's Parquet directly)."""
    return pq.read_table(stage_dir / "data").to_pylist()[0]


def _vector(value: Mapping) -> np.ndarray:
    """A Spark ML vector as saved (type 0 sparse, 1 dense) as a dense float64 array."""
    if value["type"] == 1:
        return np.asarray(value["values"], dtype=np.float64)
    dense = np.zeros(value["size"], dtype=np.float64)
    dense[np.asarray(value["indices"], dtype=np.int64)] = value["values"]
    return dense


def _matrix(value: Mapping) -> np.ndarray:
    """A Spark ML matrix as saved (column-major unless transposed) as a dense (rows, cols) array."""
    rows, cols = value["numRows"], value["numCols"]
    if value["type"] != 1:
        dense = np.zeros((rows, cols), dtype=np.float64)
        pointers, indices, values = value["colPtrs"], value["rowIndices"], value["values"]
        for j in range(cols):  # CSC, or CSR when transposed
            for k in range(pointers[j], pointers[j + 1]):
                if value["isTransposed"]:
                    dense[j, indices[k]] = values[k]
                else:
                    dense[indices[k], j] = values[k]
        return dense
    values = np.asarray(value["values"], dtype=np.float64)
    return values.reshape(rows, cols) if value["isTransposed"] else values.reshape(cols, rows).T


def spark_string(value: object) -> str | None:
    """A value as Spark's cast to string spells it (what StringIndexer indexes)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if number.is_integer() and abs(number) < 1e7:
            return f"{number:.1f}"
        return repr(number)  # differs from Java's only for exponents; no categorical column is fractional
    return str(value)


@dataclass(frozen=True)
class StringIndexer:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    labels: tuple[dict[str, int], ...]

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> StringIndexer:
        if _param(meta, "handleInvalid") != "keep":
            raise UnsupportedStage(f"StringIndexer handleInvalid={_param(meta, 'handleInvalid')!r}")
        inputs = _param(meta, "inputCols") or [_param(meta, "inputCol")]
        outputs = _param(meta, "outputCols") or [_param(meta, "outputCol")]
        arrays = _data(stage_dir).get("labelsArray")
        return cls(tuple(inputs), tuple(outputs), tuple({t: i for i, t in enumerate(a)} for a in arrays))

    def apply(self, frame: Columns) -> None:
        for source, target, mapping in zip(self.inputs, self.outputs, self.labels, strict=True):
            unknown = len(mapping)  # handleInvalid=keep: one index past the labels
            frame[target] = np.fromiter(
                (mapping.get(spark_string(v), unknown) for v in frame[source]), dtype=np.float64
            )


@dataclass(frozen=True)
class OneHotEncoder:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    sizes: tuple[int, ...]
    drop_last: bool

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> OneHotEncoder:
        if _param(meta, "handleInvalid") != "keep":
            raise UnsupportedStage(f"OneHotEncoder handleInvalid={_param(meta, 'handleInvalid')!r}")
        inputs = _param(meta, "inputCols") or [_param(meta, "inputCol")]
        outputs = _param(meta, "outputCols") or [_param(meta, "outputCol")]
        sizes = tuple(int(s) for s in _data(stage_dir)["categorySizes"])
        return cls(tuple(inputs), tuple(outputs), sizes, bool(_param(meta, "dropLast")))

    def apply(self, frame: Columns) -> None:
        for source, target, size in zip(self.inputs, self.outputs, self.sizes, strict=True):
            # As Spark: keep adds a slot for invalid indices (>= size), dropLast drops the last slot.
            width = size + 1 - (1 if self.drop_last else 0)
            index = frame[source].astype(np.int64)
            index = np.where((index < 0) | (index >= size), size, index)
            out = np.zeros((len(index), width), dtype=np.float64)
            hit = index < width
            out[np.nonzero(hit)[0], index[hit]] = 1.0
            frame[target] = out


@dataclass(frozen=True)
class Bucketizer:
    """The fitted QuantileDiscretizer: each column's bucket among its splits, as Spark finds it
    (a value equal to a split opens that split's bucket, the last split closes the last one, and
    with handleInvalid=keep NaN gets the bucket after the last). A null stays null in Spark, where
    the assembler after it refuses it; here it is NaN, as in every numpy stage."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    splits: tuple[np.ndarray, ...]
    keep_invalid: bool

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> Bucketizer:
        handle = _param(meta, "handleInvalid")
        if handle not in ("keep", "error"):
            raise UnsupportedStage(f"Bucketizer handleInvalid={handle!r}")
        inputs = _param(meta, "inputCols") or [_param(meta, "inputCol")]
        outputs = _param(meta, "outputCols") or [_param(meta, "outputCol")]
        splits = _param(meta, "splitsArray") or [_param(meta, "splits")]
        arrays = tuple(np.asarray([float(v) for v in s], dtype=np.float64) for s in splits)
        return cls(tuple(inputs), tuple(outputs), arrays, handle == "keep")

    def apply(self, frame: Columns) -> None:
        for source, target, splits in zip(self.inputs, self.outputs, self.splits, strict=True):
            x = np.asarray(frame[source]).astype(np.float64)
            bucket = np.searchsorted(splits, x, side="right") - 1
            bucket = np.where(x == splits[-1], len(splits) - 2, bucket)
            missing = np.isnan(x)
            if missing.any() and not self.keep_invalid:
                raise ValueError(f"{source}: NaN, and the Bucketizer keeps no bucket for it")
            if (~missing & ((bucket < 0) | (bucket > len(splits) - 2))).any():
                raise ValueError(f"{source}: a value outside the splits {splits[0]}..{splits[-1]}")
            frame[target] = np.where(missing, len(splits) - 1, bucket).astype(np.float64)


_SIGNED_LOG = re.compile(r"SIGN\(`([^`]+)`\) \* LN\(1 \+ ABS\(`\1`\)\) AS `\1_log`")


@dataclass(frozen=True)
class SignedLog:
    """The one SQLTransformer learning uses: ``<c>_log`` = sign(c) * ln(1 + |c|), as Spark computes it."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> SignedLog:
        statement = " ".join(str(_param(meta, "statement")).split())
        found = re.fullmatch(r"SELECT \*(?:, (.*))? FROM __THIS__", statement)
        items = found.group(1).split(", ") if found and found.group(1) else []
        matches = [_SIGNED_LOG.fullmatch(item) for item in items]
        if found is None or not all(matches):
            raise UnsupportedStage(
                f"SQLTransformer {statement[:80]!r}: only the signed log1p runs outside Spark"
            )
        columns = tuple(m.group(1) for m in matches)
        return cls(columns, tuple(f"{c}_log" for c in columns))

    def apply(self, frame: Columns) -> None:
        for source, target in zip(self.inputs, self.outputs, strict=True):
            x = np.asarray(frame[source], dtype=np.float64)
            frame[target] = np.sign(x) * np.log(1.0 + np.abs(x))  # LN(1 + x), not log1p: Spark's rounding


@dataclass(frozen=True)
class VectorAssembler:
    inputs: tuple[str, ...]
    output: str

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> VectorAssembler:
        return cls(tuple(_param(meta, "inputCols")), _param(meta, "outputCol"))

    def apply(self, frame: Columns) -> None:
        parts = [np.asarray(frame[c], dtype=np.float64) for c in self.inputs]
        frame[self.output] = np.column_stack([p if p.ndim == 2 else p[:, None] for p in parts])


@dataclass(frozen=True)
class StandardScaler:
    input: str
    output: str
    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> StandardScaler:
        data = _data(stage_dir)
        mean, std = _vector(data["mean"]), _vector(data["std"])
        shift = mean if _param(meta, "withMean") else np.zeros_like(mean)
        scale = np.where(std == 0, 0.0, 1.0 / np.where(std == 0, 1.0, std))  # Spark: 0 where std is 0
        if not _param(meta, "withStd"):
            scale = np.ones_like(mean)
        return cls(_param(meta, "inputCol"), _param(meta, "outputCol"), shift, scale)

    def apply(self, frame: Columns) -> None:
        frame[self.output] = (frame[self.input] - self.shift) * self.scale


@dataclass(frozen=True)
class LogisticRegression:
    features: str
    coefficients: np.ndarray  # (classes, features); one row for a binomial model
    intercepts: np.ndarray

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> LogisticRegression:
        data = _data(stage_dir)
        return cls(
            _param(meta, "featuresCol"), _matrix(data["coefficientMatrix"]), _vector(data["interceptVector"])
        )

    def probabilities(self, frame: Columns) -> np.ndarray:
        margins = frame[self.features] @ self.coefficients.T + self.intercepts
        if self.coefficients.shape[0] == 1:  # binomial
            positive = 1.0 / (1.0 + np.exp(-margins[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        margins = margins - margins.max(axis=1, keepdims=True)
        exp = np.exp(margins)
        return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Tree:
    """One decision tree as arrays indexed by node id; a leaf has left == -1."""

    feature: np.ndarray
    threshold: np.ndarray
    categories: tuple[frozenset[float] | None, ...]  # categorical splits: values that go left
    left: np.ndarray
    right: np.ndarray
    votes: np.ndarray  # (nodes, classes): the leaf's class counts, normalised

    def leaves(self, x: np.ndarray) -> np.ndarray:
        node = np.zeros(len(x), dtype=np.int64)
        active = self.left[node] >= 0
        while active.any():
            rows = np.nonzero(active)[0]
            at = node[rows]
            value = x[rows, self.feature[at]]
            go_left = value <= self.threshold[at]
            for k in np.nonzero([self.categories[n] is not None for n in at])[0]:
                go_left[k] = value[k] in self.categories[at[k]]
            node[rows] = np.where(go_left, self.left[at], self.right[at])
            active = self.left[node] >= 0
        return node


def _tree(nodes: list[dict]) -> Tree:
    size = max(n["id"] for n in nodes) + 1
    classes = len(nodes[0]["impurityStats"])
    feature, threshold = np.zeros(size, np.int64), np.zeros(size)
    left, right = np.full(size, -1, np.int64), np.full(size, -1, np.int64)
    votes, categories = np.zeros((size, classes)), [None] * size
    for n in nodes:
        i, split = n["id"], n["split"]
        left[i], right[i] = n["leftChild"], n["rightChild"]
        stats = np.asarray(n["impurityStats"], dtype=np.float64)
        votes[i] = stats / stats.sum() if stats.sum() else stats
        if n["leftChild"] >= 0:
            feature[i] = split["featureIndex"]
            if split["numCategories"] == -1:
                threshold[i] = split["leftCategoriesOrThreshold"][0]
            else:
                categories[i] = frozenset(split["leftCategoriesOrThreshold"])
    return Tree(feature, threshold, tuple(categories), left, right, votes)


@dataclass(frozen=True)
class RandomForest:
    features: str
    trees: tuple[Tree, ...]
    weights: tuple[float, ...]

    @classmethod
    def read(cls, meta: dict, stage_dir: Path) -> RandomForest:
        by_tree: dict[int, list[dict]] = {}
        for row in pq.read_table(stage_dir / "data").to_pylist():
            by_tree.setdefault(row["treeID"], []).append(row["nodeData"])
        weights = {r["_1"]: r["_3"] for r in pq.read_table(stage_dir / "treesMetadata").to_pylist()}
        ids = sorted(by_tree)
        trees = tuple(_tree(by_tree[i]) for i in ids)
        return cls(_param(meta, "featuresCol"), trees, tuple(weights[i] for i in ids))

    def probabilities(self, frame: Columns) -> np.ndarray:
        x = frame[self.features]
        # As Spark: each tree votes with its leaf's normalised class counts; the votes are normalised.
        raw = sum(w * t.votes[t.leaves(x)] for t, w in zip(self.trees, self.weights, strict=True))
        total = raw.sum(axis=1, keepdims=True)
        return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)


TRANSFORMERS: dict[str, Callable] = {
    "org.apache.spark.ml.feature.StringIndexerModel": StringIndexer.read,
    "org.apache.spark.ml.feature.OneHotEncoderModel": OneHotEncoder.read,
    "org.apache.spark.ml.feature.VectorAssembler": VectorAssembler.read,
    "org.apache.spark.ml.feature.SQLTransformer": SignedLog.read,
    "org.apache.spark.ml.feature.StandardScalerModel": StandardScaler.read,
    "org.apache.spark.ml.feature.Bucketizer": Bucketizer.read,
}
CLASSIFIERS: dict[str, Callable] = {
    "org.apache.spark.ml.classification.LogisticRegressionModel": LogisticRegression.read,
    "org.apache.spark.ml.classification.RandomForestClassificationModel": RandomForest.read,
}


def _stage_dirs(pipeline_dir: Path) -> list[Path]:
    stages = pipeline_dir / "stages"
    return sorted(stages.iterdir(), key=lambda p: int(p.name.split("_", 1)[0]))


def padded(probabilities: np.ndarray) -> np.ndarray:
    """Probabilities of every class of schema.LABELS (a model trained on fewer has zeros there)."""
    out = np.zeros((probabilities.shape[0], len(LABELS)), dtype=np.float64)
    out[:, : probabilities.shape[1]] = probabilities[:, : len(LABELS)]
    return out


@dataclass
class LocalModel:
    """The fitted feature stages and a classifier: ``probabilities(rows)`` as the champion gives them."""

    transformers: list
    classify: Callable[[Columns], np.ndarray]
    inputs: tuple[str, ...]

    @classmethod
    def read(
        cls,
        pipeline_dir: str | Path,
        network: Callable[[np.ndarray], np.ndarray] | None = None,
        reads: str = "features_scaled",
    ) -> LocalModel:
        """A saved PipelineModel: its last stage is the classifier, unless ``network`` (a Keras or
        XGBoost champion as a function of the pipeline's vector ``reads``) is given."""
        stages = []
        for stage_dir in _stage_dirs(Path(pipeline_dir)):
            meta = _metadata(stage_dir)
            reader = TRANSFORMERS.get(meta["class"]) or CLASSIFIERS.get(meta["class"])
            if reader is None:
                raise UnsupportedStage(f"{meta['class']} ({stage_dir.name}) cannot be run outside Spark")
            stages.append((meta["class"], reader(meta, stage_dir)))
        if network is not None:
            classify = _network(network, reads)
            transformers = [s for _, s in stages]
        else:
            if not stages or stages[-1][0] not in CLASSIFIERS:
                raise UnsupportedStage(f"{pipeline_dir} does not end with a supported classifier")
            transformers, classify = [s for _, s in stages[:-1]], stages[-1][1].probabilities
        return cls(transformers, classify, _inputs(transformers))

    def probabilities(self, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
        """(rows, len(LABELS)) class probabilities of raw rows (packet columns and features)."""
        frame: Columns = {}
        for name in self.inputs:
            values = [row[name] for row in rows]
            text = any(isinstance(v, str) for v in values)
            frame[name] = np.asarray(values, dtype=object if text else None)
        for stage in self.transformers:
            stage.apply(frame)
        return padded(np.asarray(self.classify(frame), dtype=np.float64))


def _network(network: Callable[[np.ndarray], np.ndarray], reads: str) -> Callable[[Columns], np.ndarray]:
    def classify(frame: Columns) -> np.ndarray:
        return network(frame[reads].astype(np.float32))

    return classify


def _inputs(transformers: list) -> tuple[str, ...]:
    """The raw columns the stages read: inputs no earlier stage produced."""
    made: set[str] = set()
    needed: list[str] = []
    for stage in transformers:
        reads = getattr(stage, "inputs", None) or (stage.input,)
        needed += [c for c in reads if c not in made and c not in needed]
        made |= set(getattr(stage, "outputs", None) or (stage.output,))
    return tuple(needed)

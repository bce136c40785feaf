"""The feature pipeline (Task III): from typed packets to model-ready vectors.

Fitted on the train split only, then applied to test, so nothing about the
test rows (not a scaler mean, not an index of a flag value) reaches a model.
Which columns are dropped is decided from the train data, not from a list:

* constant on train: carries no information (11 of MQTTset's columns are).
* duplicate information: a column in one-to-one correspondence with an earlier
  column (``mqtt.proto_len`` says what ``mqtt.ver`` says); checked exactly,
  over the distinct combinations of the low-cardinality columns.
* ``mqtt.msg``, the payload as text, is the one column dropped by policy: it
  is free-form text, and its information is in ``mqtt.len``.

Flags and other categorical columns are indexed and one-hot encoded (a value
unseen in train lands in an "unknown" slot no train row sets); the rest stay
numeric. The
assembled ``features`` vector feeds the random forest; ``features_scaled``
(the numeric columns' signed log1p, standardised) feeds, as the array ``x``,
XGBoost, and Keras and logistic regression where there are no bins;
``features_binned`` (that, plus quantile bins of the numeric columns) feeds logistic
regression and, as the array ``x_binned``, the networks.

Each test row is also marked ``unseen`` when its exact feature vector never
occurs in train: MQTTset is duplicate-heavy, and scores on those rows are the
leakage-aware figures.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from itertools import combinations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (
    OneHotEncoder,
    QuantileDiscretizer,
    SQLTransformer,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mqttids.learning import arrays, distinct, folds
from mqttids.learning.artifacts import RunFolder, write_json
from mqttids.runtime import db
from mqttids.schema import COLUMNS, LABELS, NAMES, Kind
from mqttids.warehouse import tables
from mqttids.warehouse.batches import FETCH_SIZE, BatchRange, predicates

log = logging.getLogger(__name__)

PAYLOAD_COLUMNS: tuple[str, ...] = ("mqtt_msg",)
# Low-cardinality numeric codes that name a kind of packet rather than measure it.
CODE_COLUMNS: tuple[str, ...] = ("mqtt_msgtype",)
CANDIDATES: tuple[str, ...] = tuple(n for n in NAMES if n != "target" and n not in PAYLOAD_COLUMNS)
BINNED = arrays.BINNED_VECTOR  # the scaled vector plus quantile bins, when MQTTIDS_LR_BINS asks for them
# Columns with more distinct values than this are not checked for duplicates (lengths, times).
DUPLICATE_CHECK_MAX_DISTINCT = 1000


@dataclass(frozen=True)
class ColumnDecision:
    """Whether a column feeds the models, and why."""

    column: str
    action: str  # "kept" or "dropped"
    reason: str


def is_categorical(name: str) -> bool:
    """Flags, codes and texts are categories; lengths, times and connection aggregates are quantities."""
    kind = next((c.kind for c in COLUMNS if c.name == name), Kind.FLOAT)
    return kind in (Kind.HEX, Kind.TEXT) or name in CODE_COLUMNS


def read_packets(spark: SparkSession, url: str, batches: BatchRange) -> DataFrame:
    """Every packet of ``batches`` (both splits) with its connection columns, read in parallel."""
    target = db.DbUrl.parse(url)
    buckets = max(1, spark.sparkContext.defaultParallelism // 2)
    properties = target.jdbc_properties | {"fetchsize": FETCH_SIZE}
    return spark.read.jdbc(
        target.jdbc_url, tables.PACKETS, predicates=predicates(batches, buckets), properties=properties
    ).select("batch_date", "split", *NAMES, *tables.CONNECTION_COLUMNS)


def _duplicate_pairs(distinct_rows, columns: list[str]) -> dict[str, str]:
    """{column: earlier column it duplicates}, from the distinct rows of ``columns`` (pandas)."""
    counts = {c: distinct_rows[c].nunique() for c in columns}
    duplicates: dict[str, str] = {}
    for first, second in combinations(columns, 2):
        if first in duplicates or second in duplicates or counts[first] != counts[second]:
            continue
        if len(distinct_rows[[first, second]].drop_duplicates()) == counts[first]:
            duplicates[second] = first
    return duplicates


def choose_columns(train: DataFrame, candidates: tuple[str, ...] = CANDIDATES) -> list[ColumnDecision]:
    """Decide, from the train split, which candidate columns the models get."""
    stats = train.agg(
        *[F.min(c).alias(f"min_{c}") for c in candidates],
        *[F.max(c).alias(f"max_{c}") for c in candidates],
        *[F.approx_count_distinct(c).alias(f"n_{c}") for c in candidates],
    ).first()
    decisions = [
        ColumnDecision(c, "dropped", "payload text; its size is in mqtt_len")
        for c in PAYLOAD_COLUMNS
        if c in train.columns
    ]
    varying = []
    for c in candidates:
        if stats[f"min_{c}"] == stats[f"max_{c}"]:
            decisions.append(ColumnDecision(c, "dropped", f"constant on train (always {stats[f'min_{c}']})"))
        else:
            varying.append(c)
    small = [c for c in varying if stats[f"n_{c}"] <= DUPLICATE_CHECK_MAX_DISTINCT]
    duplicates = _duplicate_pairs(train.select(*small).distinct().toPandas(), small)
    for c in varying:
        if c in duplicates:
            reason = f"same information as {duplicates[c]} (one-to-one on train)"
            decisions.append(ColumnDecision(c, "dropped", reason))
        else:
            kind = "categorical, one-hot" if is_categorical(c) else "numeric"
            decisions.append(ColumnDecision(c, "kept", kind))
    order = {c: i for i, c in enumerate(train.columns)}
    return sorted(decisions, key=lambda d: order[d.column])


def log_statement(numeric: list[str]) -> str:
    """SQL adding ``<c>_log`` = sign(c) * ln(1 + |c|) for each numeric column (for SQLTransformer)."""
    logs = ", ".join(f"SIGN(`{c}`) * LN(1 + ABS(`{c}`)) AS `{c}_log`" for c in numeric)
    return f"SELECT *, {logs} FROM __THIS__" if numeric else "SELECT * FROM __THIS__"


def build_pipeline(kept: list[str], bins: int) -> Pipeline:
    """Index and one-hot the categorical columns, assemble, standardise, and bin for LR.

    ``features`` (the trees' input) holds the numeric columns as they are. ``features_scaled``
    (the networks' and XGBoost's input) standardises their signed log1p instead:
    lengths, times and connection counts are heavy-tailed (a 32 KiB flood PUBLISH beside
    2-byte ACKs, gaps of microseconds beside a SlowITe client's seconds), and standardised raw,
    a few huge values squash every other row into one point near the mean, which a linear model
    or a network cannot split. The log keeps the order (trees see no difference) and spreads
    the common small values out.

    ``features_binned`` (logistic regression's and the networks' input) is ``features_scaled``
    plus each numeric column cut at ``bins`` train quantiles and one-hot encoded. A linear model
    gives a column one slope; a class that lives in a middle range of a length or a gap (a
    SlowITe client's seconds-long pauses, a bruteforce CONNECT's length) needs a weight per
    range. A network can build those ranges itself, but on a few thousand packets it spends
    hundreds of epochs doing so and still finds fewer of them than the trees: given the bins,
    dnn_narrow stopped early after about 30 epochs and scored 0.05 more. With ``bins`` 0 (every
    level but ``packet``: :func:`mqttids.learning.levels.lr_bins`) there is no
    ``features_binned`` and both read ``features_scaled`` (:func:`lr_input`), so no copy of the
    scaled vector is written. Measured on the genuine corpus: docs/learning.md.
    """
    categorical = [c for c in kept if is_categorical(c)]
    numeric = [c for c in kept if c not in categorical]
    indexed = [f"{c}_idx" for c in categorical]
    onehot = [f"{c}_vec" for c in categorical]
    stages = []
    if categorical:
        stages += [
            StringIndexer(inputCols=categorical, outputCols=indexed, handleInvalid="keep"),
            # StringIndexer's "keep" adds an unknown label, so a value unseen in train gets its own
            # one-hot slot, one no train row sets: the models learn nothing from it.
            OneHotEncoder(inputCols=indexed, outputCols=onehot, handleInvalid="keep", dropLast=True),
        ]
    stages += [
        SQLTransformer(statement=log_statement(numeric)),
        VectorAssembler(inputCols=numeric + onehot, outputCol="features"),
        VectorAssembler(inputCols=[f"{c}_log" for c in numeric] + onehot, outputCol="features_log"),
        StandardScaler(inputCol="features_log", outputCol="features_scaled", withMean=True, withStd=True),
    ]
    return Pipeline(stages=stages + _bin_stages(numeric, bins))


def _bin_stages(numeric: list[str], bins: int) -> list:
    """Quantile bins of the numeric columns, one-hot, assembled after ``features_scaled``.

    A value outside the train range falls in the first or last bin (the splits end at
    infinity); a column with fewer distinct values than ``bins`` gets one bin per value range.
    """
    if not numeric or bins < 2:
        return []
    binned, encoded = [f"{c}_bin" for c in numeric], [f"{c}_bins" for c in numeric]
    return [
        QuantileDiscretizer(inputCols=numeric, outputCols=binned, numBuckets=bins, handleInvalid="keep"),
        OneHotEncoder(inputCols=binned, outputCols=encoded, handleInvalid="keep", dropLast=True),
        VectorAssembler(inputCols=["features_scaled", *encoded], outputCol=BINNED),
    ]


def lr_input(columns: list[str]) -> str:
    """The vector logistic regression and the networks read from features with these columns."""
    return BINNED if BINNED in columns else "features_scaled"


def label_column() -> F.Column:
    """The class as a number, fixed by schema.LABELS (not by frequency), so runs agree."""
    return (F.array_position(F.array(*[F.lit(x) for x in LABELS]), F.col("target")) - 1).cast("double")


def class_weights(train: DataFrame) -> dict[str, float]:
    """Balanced weights n / (k * n_class): every class weighs the same in total."""
    counts = {r["target"]: r["count"] for r in train.groupBy("target").count().collect()}
    total, present = sum(counts.values()), len(counts)
    return {label: total / (present * counts[label]) for label in LABELS if label in counts}


def vector_key(columns: list[str]) -> F.Column:
    """A 64-bit hash of a row's model inputs: equal inputs, equal keys."""
    return F.xxhash64(*columns)


def fingerprint(test: DataFrame, columns: tuple[str, ...] = NAMES) -> str:
    """Identifies the test rows (count and order-free hash sum), so scores are comparable."""
    row = test.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.xxhash64(*columns).cast("decimal(38,0)")).alias("h"),
    ).first()
    return f"{row['n']}:{row['h']}"


@dataclass(frozen=True)
class FeatureSummary:
    """What the features step decided and wrote; saved as the run's features/meta.json."""

    run_id: str
    batch_from: str | None
    batch_to: str | None
    columns: list[ColumnDecision]
    class_counts: dict[str, int]
    class_weights: dict[str, float]
    train_rows: int
    distinct_train_rows: int  # train rows collapsed by mqttids.learning.distinct
    test_rows: int
    unseen_test_rows: int
    test_fingerprint: str
    feature_size: int
    binned_size: int  # the length of x_binned, 0 where the level has no bins
    pipeline_uri: str
    input_example: list[dict]  # a few raw test rows of the kept columns: the logged models' example

    def kept(self) -> list[str]:
        return [d.column for d in self.columns if d.action == "kept"]


def _with_weights(df: DataFrame, weights: dict[str, float]) -> DataFrame:
    mapping = F.create_map(*[x for label, w in weights.items() for x in (F.lit(label), F.lit(w))])
    return df.withColumn("weight", F.coalesce(mapping[F.col("target")], F.lit(1.0)))


def _model_ready(df: DataFrame, *extra: str) -> DataFrame:
    return df.select(
        *extra,
        "target",
        "label",
        "weight",
        "unseen",
        folds.CONNECTION,
        "features",
        "features_scaled",
        vector_to_array("features_scaled", dtype="float32").alias("x"),
        *(
            [BINNED, vector_to_array(BINNED, dtype="float32").alias(arrays.BINNED_ARRAY)]
            if BINNED in df.columns
            else []
        ),
    )


def build(
    spark: SparkSession,
    packets: DataFrame,
    run_id: str,
    folder: RunFolder,
    batches: BatchRange,
    candidates: tuple[str, ...] = CANDIDATES,
    bins: int = 0,
):
    """Fit on train, transform both splits, write Parquet and metadata; return the summary.

    ``packets`` are the rows of one feature level (:mod:`mqttids.learning.levels`),
    ``candidates`` the columns its models may get and ``bins`` logistic regression's quantile
    bins (:func:`build_pipeline`); the test split must share no connection with train, and
    train rows get their cross-validation group (:mod:`mqttids.learning.folds`).
    """
    # Cached before the split: each read of an uncached level re-runs its whole lineage from the
    # warehouse (the context level's windows span both splits), and the split, the folds'
    # grouping (which captures, then their ranks) and the test rows would read it four times.
    packets = folds.with_connection(packets.withColumn("label", label_column())).cache()
    train = folds.with_groups(packets.where(F.col("split") == "train").drop("split")).cache()
    test = packets.where(F.col("split") == "test").drop("split").cache()
    train_rows = train.count()  # train and test materialised, so the unsplit copy can go
    test.count()
    packets.unpersist()
    folds.check_disjoint(train, test)
    decisions = choose_columns(train, candidates)
    kept = [d.column for d in decisions if d.action == "kept"]
    for d in decisions:
        log.info("column %-28s %-7s %s", d.column, d.action, d.reason)
    weights = class_weights(train)
    log.info("class weights (balanced): %s", {k: round(v, 3) for k, v in weights.items()})
    model = build_pipeline(kept, bins).fit(train)
    model.write().overwrite().save(folder.pipeline)

    seen = train.select(vector_key(kept).alias("key")).distinct().withColumn("seen", F.lit(True))
    train_out = _with_weights(model.transform(train), weights).withColumn("unseen", F.lit(False))
    test_out = (
        _with_weights(model.transform(test.withColumn("key", vector_key(kept))), weights)
        .join(seen, "key", "left")
        .withColumn("unseen", F.col("seen").isNull())
    )
    # Shuffled once here, so a streaming reader (Keras) sees the classes mixed.
    _model_ready(train_out, folds.GROUP).orderBy(F.rand(seed=7)).write.mode("overwrite").parquet(
        folder.features("train")
    )
    _model_ready(test_out).write.mode("overwrite").parquet(folder.features("test"))
    collapsed = _with_weights(model.transform(distinct.collapse(train, kept)), weights)
    _model_ready(collapsed.withColumn("unseen", F.lit(False)), folds.GROUP, distinct.COPIES).write.mode(
        "overwrite"
    ).parquet(folder.features(distinct.SPLIT))

    written_test = spark.read.parquet(folder.features("test"))
    written_train = spark.read.parquet(folder.features("train"))
    binned = BINNED in written_train.columns
    first = written_train.select("features", *([BINNED] if binned else [])).first()
    summary = FeatureSummary(
        run_id=run_id,
        batch_from=batches.first.isoformat() if batches.first else None,
        batch_to=batches.last.isoformat() if batches.last else None,
        columns=decisions,
        class_counts={r["target"]: r["count"] for r in train.groupBy("target").count().collect()},
        class_weights=weights,
        train_rows=train_rows,
        distinct_train_rows=spark.read.parquet(folder.features(distinct.SPLIT)).count(),
        test_rows=written_test.count(),
        unseen_test_rows=written_test.where("unseen").count(),
        test_fingerprint=fingerprint(test, NAMES if candidates == CANDIDATES else (*candidates, "target")),
        feature_size=first["features"].size if first else 0,
        binned_size=first[BINNED].size if first and binned else 0,
        pipeline_uri=folder.pipeline,
        input_example=[r.asDict() for r in test.select(*kept).limit(5).collect()],
    )
    write_json(folder.features_meta, asdict(summary))
    train.unpersist()
    test.unpersist()
    return summary


def load_pipeline(uri: str) -> PipelineModel:
    return PipelineModel.load(uri)


def scoring_frame(pipeline: PipelineModel, packets: DataFrame, vector: str = "features_scaled") -> DataFrame:
    """Rows a saved pipeline turned into model inputs, ``vector`` as the array ``x``: to score an
    older model on new rows."""
    return pipeline.transform(packets.withColumn("label", label_column())).select(
        "label", vector_to_array(vector, dtype="float32").alias("x")
    )

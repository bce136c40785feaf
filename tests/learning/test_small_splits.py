"""Small train splits (a site's own captures): exact XGBoost trees and enough network steps.

``hist`` splits at a train value itself; exact greedy search halfway between two. On a small
split, a test row a little past the smallest train value of a class lands on the wrong side
with hist: the connection level's flood windows on the genuine corpus did (xgb_models.tree_method).
A network fit counted in epochs alone gets few gradient steps on few rows (tf_models.epoch_limits).
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from mqttids.learning import arrays, tf_models, xgb_models


def _rows() -> arrays.Rows:
    """20 rows of class 0 at 0..1 and 5 of class 1 at 10..11: a wide gap between the classes."""
    x = np.concatenate([np.linspace(0, 1, 20), np.linspace(10, 11, 5)]).astype(np.float32)[:, None]
    y = np.array([0] * 20 + [1] * 5, dtype=np.int32)
    ones = np.ones(len(y), dtype=np.float32)
    return arrays.Rows(x, y, ones, np.arange(len(y)), ones.astype(np.int64))


def test_the_whole_split_in_the_sample_grows_exact_trees():
    rows = _rows()
    assert xgb_models.tree_method(rows, train_rows=len(rows.y)) == "exact"
    assert xgb_models.tree_method(rows, train_rows=10 * len(rows.y)) == "hist"


def test_exact_trees_split_halfway_where_hist_splits_at_a_train_value():
    rows = _rows()
    below_the_smallest = np.array([[9.9]], dtype=np.float32)  # far nearer class 1 than class 0
    predicted = {}
    for method in ("hist", "exact"):
        params = xgb_models.booster_params({"max_depth": 2, "learning_rate": 0.3}, method)
        booster = xgb.train(params, xgb.DMatrix(rows.x, label=rows.y, weight=rows.w), num_boost_round=10)
        predicted[method] = int(booster.predict(xgb.DMatrix(below_the_smallest)).argmax())
    assert predicted == {"hist": 0, "exact": 1}


def test_a_network_fit_on_few_rows_gets_the_steps_of_a_large_one():
    assert tf_models.epoch_limits(33_334, min_steps=4000) == (30, 3)  # 131 batches an epoch: as before
    assert tf_models.epoch_limits(2_827, min_steps=4000) == (333, 33)  # 12 batches an epoch
    assert tf_models.epoch_limits(2_827, min_steps=0) == (30, 3)


def test_the_step_budget_stops_at_a_ceiling_of_epochs():
    assert tf_models.epoch_limits(218, min_steps=4000) == (400, 40)  # one batch: 4,000 steps uncapped
    assert tf_models.epoch_limits(218, min_steps=0) == (30, 3)

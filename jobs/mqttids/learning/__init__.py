"""Learning: features fitted on train only (features), cross-validated Spark and Keras models
(grids, tuning, spark_models, tf_models), their metrics (metrics), evaluation on the test split
(evaluation), MLflow tracking and registry (tracking), the warehouse tables SQL users read
(registry) and the champion/challenger rule over the ``@champion`` alias (champion). Run
folders of features and predictions are in artifacts.
"""

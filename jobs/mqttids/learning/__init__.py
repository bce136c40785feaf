"""Learning: features fitted on train only (features), cross-validated Spark and Keras models
(grids, tuning, spark_models, tf_models), their metrics (metrics), evaluation on the test split
(evaluation), the model registry tables (registry) and the champion/challenger rule
(champion). Run folders of models and figures are in artifacts.
"""

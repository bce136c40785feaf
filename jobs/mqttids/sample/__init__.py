"""The sample generator: MQTTset-shaped files, calibrated to the dataset's published
statistics (published), written as train/test pairs or daily landing batches (generator).
It lets the whole platform run and be tested offline.
"""

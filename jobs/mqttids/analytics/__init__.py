"""Analytics (Task II): the averages, per-target TCP length, flag rankings and class histogram
of a batch range, all derived from one small Spark aggregation of the packets (cube) and
written to ``mqtt.*`` result tables.
"""

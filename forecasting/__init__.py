"""Pure forecasting: grids, observations, features, the estimator, AQI, verification.

No database, network or clock here: time is always a parameter.
"""

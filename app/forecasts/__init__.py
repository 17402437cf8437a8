"""Forecast models and backtests on the command line (`hazewarn model`, `backtest`)."""

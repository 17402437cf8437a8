"""Hypothesis properties of the AQI: IAQI equals the standard's table at every breakpoint
and never falls as a concentration rises; the AQI of several indicators likewise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.aqi import HJ633_2012, HJ633_2026, aqi, iaqi

LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)
#: HJ 633 Table 1, copied from the standard (../shared/domain/standards.md §1.1), not
#: from forecasting.aqi: the code is checked against the text.
STANDARD_2012 = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "so2_1h": (0, 150, 500, 650, 800),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}
STANDARD_2026 = {
    **STANDARD_2012,
    "pm10_24h": (0, 50, 120, 250, 350, 420, 500, 600),
    "pm25_24h": (0, 35, 60, 115, 150, 250, 350, 500),
}
TABLES = {HJ633_2012: STANDARD_2012, HJ633_2026: STANDARD_2026}
CASES = [(v, i) for v, table in TABLES.items() for i in table]


@pytest.mark.parametrize(("version", "indicator"), CASES)
def test_iaqi_equals_the_table_at_every_breakpoint(version: str, indicator: str) -> None:
    pollutant, period = indicator.split("_")
    for concentration, level in zip(TABLES[version][indicator], LEVELS, strict=False):
        assert iaqi(pollutant, concentration, period, version).iaqi == level, concentration


@settings(max_examples=300, derandomize=True, database=None)
@given(
    case=st.sampled_from(CASES),
    low=st.floats(min_value=0, max_value=5000, allow_nan=False),
    step=st.floats(min_value=0, max_value=5000, allow_nan=False),
)
def test_iaqi_never_falls_as_the_concentration_rises(
    case: tuple[str, str], low: float, step: float
) -> None:
    version, indicator = case
    pollutant, period = indicator.split("_")
    below = iaqi(pollutant, low, period, version).iaqi
    above = iaqi(pollutant, low + step, period, version).iaqi
    if below is not None and above is not None:  # 2012 skips SO2 1h / O3 8h above 800
        assert below <= above, (low, low + step)


DAILY = ["so2_24h", "no2_24h", "pm10_24h", "co_24h", "o3_8h", "pm25_24h"]


@settings(max_examples=200, derandomize=True, database=None)
@given(
    version=st.sampled_from([HJ633_2012, HJ633_2026]),
    values=st.fixed_dictionaries(
        {name: st.floats(min_value=0, max_value=700, allow_nan=False) for name in DAILY}
    ),
    raised=st.sampled_from(DAILY),
    step=st.floats(min_value=0, max_value=2000, allow_nan=False),
)
def test_the_aqi_never_falls_when_one_indicator_rises(
    version: str, values: dict[str, float], raised: str, step: float
) -> None:
    before = aqi(values, version).aqi
    after = aqi({**values, raised: values[raised] + step}, version).aqi
    assert before is not None and after is not None and before <= after

"""Readers for station observation files: one canonical hourly frame from every source.

`read_observations(path)` detects the format from the header and returns one row per
station-hour with exactly the columns in `OBSERVATION_COLUMNS`:

| column | meaning |
|---|---|
| station | the source's station name ("Dongsi", "US Post") |
| city | the source's city in English ("Beijing") or None |
| time | start of the averaging hour, tz-aware UTC |
| pm25, pm10, so2, no2, o3 | µg/m³ |
| co | mg/m³ |
| temp, dewp | °C |
| rh | % |
| pres | hPa |
| rain | mm/h |
| wspd | m/s |
| wdir | degrees the wind blows from (0 = north, 90 = east); NaN when calm/variable |
| qc_flags | "pm25:spike,o3:stuck" (see `forecasting.qc`); "" when clean |
| source | beijing-multisite, beijing-prsa-2010, five-cities, stateair or long-csv |

Every value column is float64 with NaN for missing (source codes `NA`, `-999`, `999990`).

Time convention. The station files are labelled in China Standard Time (UTC+8, no daylight
saving). The sources disagree by one hour: the five-cities and StateAir files label an
hour by its start (their US Post series agree at the same label), while the Beijing
multi-site file and the 2010 US-Embassy file (`beijing_prsa_2010`) carry the same
measurements one hour later, i.e. labelled by the hour's end as Chinese releases do (the
value published at 14:00 is the 13:00-14:00 mean). We store the start of the hour, so the
multi-site and 2010 labels are moved back one hour. After that the same measurement gets
the same UTC hour whichever file it came from, and a local calendar day of start-times
(00:00-23:00) is the Chinese "hours 1 to 24" daily mean.

Every reader is vectorised pandas: no Python loop runs per row.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.qc import flag_observations, station_keys

POLLUTANTS: tuple[str, ...] = ("pm25", "pm10", "so2", "no2", "co", "o3")
WEATHER: tuple[str, ...] = ("temp", "dewp", "rh", "pres", "rain", "wspd", "wdir")
VALUE_COLUMNS: tuple[str, ...] = POLLUTANTS + WEATHER
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "station",
    "city",
    "time",
    *VALUE_COLUMNS,
    "qc_flags",
    "source",
)
SOURCES: tuple[str, ...] = (
    "beijing-multisite",
    "beijing-prsa-2010",
    "five-cities",
    "stateair",
    "long-csv",
)

#: Numeric codes that sources use for "no value".
MISSING_CODES: tuple[float, ...] = (-999.0, 999990.0)

#: China Standard Time: the station files' clock. China has kept UTC+8 all year since 1991.
CHINA_STANDARD_OFFSET = pd.Timedelta(hours=8)
ONE_HOUR = pd.Timedelta(hours=1)

#: 16-point compass names to the direction the wind blows from, in degrees.
COMPASS_DEGREES: dict[str, float] = {
    name: i * 22.5
    for i, name in enumerate(
        "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split()  # noqa: SIM905
    )
}
#: The five-cities `cbwd` quadrants; "cv" (calm or variable) has no direction.
COMBINED_DIRECTION_DEGREES: dict[str, float] = {"NE": 45.0, "SE": 135.0, "SW": 225.0, "NW": 315.0}
CALM = "cv"

#: Long-format pollutant names and unit spellings (all units are mass concentrations).
LONG_POLLUTANTS: frozenset[str] = frozenset(POLLUTANTS)
#: Factor from the written unit to µg/m³.
UNIT_TO_MICROGRAMS: dict[str, float] = {
    "ug/m3": 1.0,
    "µg/m3": 1.0,  # micro sign U+00B5
    "μg/m3": 1.0,  # Greek mu U+03BC
    "µg/m³": 1.0,
    "ug/m³": 1.0,
    "mg/m3": 1000.0,
    "mg/m³": 1000.0,
}
LONG_REQUIRED = ("station", "time", "pollutant", "value", "unit")

HEADER_LINE = 1  # data row i (0-based) is on line i + 2
GZIP_MAGIC = b"\x1f\x8b"


class ObservationFileError(ValueError):
    """A file we refuse: which file, which line (1-based, None for the whole file), why."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass
class ObservationFile:
    """A parsed file: the canonical frame plus what an importer needs to report errors."""

    path: Path
    source: str
    frame: pd.DataFrame
    rows_read: int  # data lines in the file
    #: (station, city) -> line of the first row naming that station.
    station_lines: dict[tuple[str, str | None], int] = field(default_factory=dict)
    #: The line of each frame row (five-cities: the line of the hour; long CSV: the first
    #: line of the station-hour).
    lines: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def read_observations(path: str | Path) -> pd.DataFrame:
    """Read one observation file of any supported format into the canonical frame."""
    return read_observation_file(path).frame


def read_observation_file(path: str | Path) -> ObservationFile:
    """Read one file and keep the line of each station's first row (for import errors)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ObservationFileError(path, None, f"cannot read file: {exc.strerror}") from exc
    if raw[:2] == GZIP_MAGIC:  # e.g. the demo extract: any format, gzip-compressed
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ObservationFileError(path, None, f"corrupt gzip file: {exc}") from exc
    if not raw.strip():
        raise ObservationFileError(path, None, "empty file")
    text_encoding = _encoding(raw)
    header = _header_fields(raw, text_encoding)
    header_set = set(header)
    if {"No", "year", "month", "day", "hour", "PM2.5", "station"} <= header_set:
        reader = _read_beijing_multisite
    elif {"No", "year", "month", "day", "hour", "pm2.5", "cbwd", "Iws"} <= header_set:
        reader = _read_beijing_prsa_2010
    elif {"year", "month", "day", "hour", "cbwd", "Iws"} <= header_set and any(
        name.startswith("PM_") for name in header
    ):
        reader = _read_five_cities
    elif {"Site", "Parameter", "Year", "Month", "Day", "Hour", "Value"} <= header_set:
        reader = _read_stateair
    elif {"station", "time", "pollutant", "value"} <= header_set:
        reader = _read_long_csv
    else:
        raise ObservationFileError(
            path,
            HEADER_LINE,
            "unknown format: header matches none of beijing-multisite, beijing-prsa-2010, "
            "five-cities, stateair or long-csv (station,time,pollutant,value,unit)",
        )
    _check_not_truncated(path, raw, len(header), text_encoding)
    parsed = reader(path, raw, text_encoding, header)
    if parsed.rows_read == 0:
        raise ObservationFileError(path, 2, "no data rows after the header")
    parsed.frame["qc_flags"] = _join_flags(
        parsed.frame["qc_flags"], flag_observations(parsed.frame)
    )
    return parsed


def station_point(station: str, city: str | None) -> str:
    """The name of a station as one model point: ``City/Station`` (``Station`` when the
    file names no city). Station names repeat across cities ("US Post" in Beijing,
    Shanghai, Guangzhou and Chengdu), so the identity of a station is the pair."""
    return f"{city}/{station}" if city else str(station)


def combine_observation_files(files: Sequence[ObservationFile]) -> pd.DataFrame:
    """The frames of several read files as one, for training and backtests.

    A station-hour (station, city, hour) may appear once: a second one, in the same file
    or another, raises `ObservationFileError` at its file and line, naming where the first
    one is. Duplicates are refused, never dropped: which of two readings is right is not
    ours to guess (the database import instead merges them by its documented rule).
    """
    if not files:
        raise ValueError("no observation files")
    frame = pd.concat([f.frame for f in files], ignore_index=True)
    if frame.empty:
        return frame
    keys = pd.DataFrame(
        {
            "station": frame["station"].to_numpy(dtype=object),
            "city": frame["city"].fillna("").to_numpy(dtype=object),
            "time": pd.DatetimeIndex(frame["time"]).as_unit("s").asi8,
        }
    )
    duplicated = keys.duplicated(keep="first").to_numpy()
    if duplicated.any():
        owners = np.concatenate([np.full(len(f.frame), i) for i, f in enumerate(files)])
        lines = np.concatenate(
            [f.lines if len(f.lines) == len(f.frame) else np.zeros(len(f.frame)) for f in files]
        ).astype(np.int64)
        row = int(np.flatnonzero(duplicated)[0])
        same = (keys == keys.iloc[row]).all(axis=1).to_numpy()
        first = int(np.flatnonzero(same)[0])
        when = pd.Timestamp(frame["time"].iloc[row]).strftime("%Y-%m-%dT%H:%MZ")
        name = station_point(frame["station"].iloc[row], frame["city"].iloc[row])
        earlier = files[owners[first]]
        raise ObservationFileError(
            files[owners[row]].path,
            int(lines[row]) or None,
            f"duplicate station-hour: {name} {when} is also in {earlier.path}, "
            f"line {int(lines[first])}",
        )
    return frame


# --------------------------------------------------------------------------- helpers


def _encoding(raw: bytes) -> str:
    """UTF-8 when the bytes decode as such, else Latin-1 (older StateAir files)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"


def _header_fields(raw: bytes, encoding: str) -> list[str]:
    first = raw.split(b"\n", 1)[0].decode(encoding).strip("\r\n")
    return [name.strip().strip('"') for name in first.split(",")]


def _check_not_truncated(path: Path, raw: bytes, n_fields: int, encoding: str) -> None:
    """A file cut short ends inside a row: its last line has fewer fields than the header.

    Files without a final newline are accepted when the last row is complete, since some
    published copies simply lack one.
    """
    body = raw.rstrip(b"\r\n")
    line_count = body.count(b"\n") + 1
    last = body.rsplit(b"\n", 1)[-1].decode(encoding, errors="replace").rstrip("\r")
    if last.count('"') % 2:
        raise ObservationFileError(path, line_count, "truncated file: last row ends inside a quote")
    seen = last.count(",") + 1
    if line_count > 1 and seen < n_fields:
        raise ObservationFileError(
            path, line_count, f"truncated file: last row has {seen} of {n_fields} fields"
        )


_PARSER_LINE = re.compile(r"line (\d+)|row (\d+)")


def _read_csv(path: Path, raw: bytes, encoding: str, usecols: list[str]) -> pd.DataFrame:
    """`pd.read_csv` with our missing codes, turning parser errors into file errors.

    All columns are read (selecting with `usecols` is slower); those in `usecols` must exist.
    """
    try:
        table = pd.read_csv(
            io.BytesIO(raw),
            encoding=encoding,
            na_values=["NA", ""],
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except pd.errors.ParserError as exc:
        message = str(exc)
        match = _PARSER_LINE.search(message)
        line = None
        if match and match.group(1):
            line = int(match.group(1))
        elif match and match.group(2):
            line = int(match.group(2)) + 2
        reason = message.split("C error: ")[-1].strip()
        if "EOF" in message:
            reason = f"truncated file: {reason}"
        raise ObservationFileError(path, line, reason) from exc
    table.columns = [str(name).strip() for name in table.columns]
    missing = [name for name in usecols if name not in table.columns]
    if missing:
        raise ObservationFileError(path, HEADER_LINE, f"missing column(s): {', '.join(missing)}")
    return table


def _numeric(path: Path, table: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float64 with missing codes as NaN; text in it is an error at its line."""
    series = table[column]
    if not pd.api.types.is_numeric_dtype(series.dtype):
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ObservationFileError(
                path,
                row + 2,
                f"text {str(series.iloc[row])!r} in number column {column!r}",
            )
        series = converted
    values = np.array(series.to_numpy(dtype="float64", na_value=np.nan), copy=True)
    infinite = np.isinf(values)
    if infinite.any():
        # "inf" parses as a number, but no instrument reads it: refuse, never count it.
        row = int(np.flatnonzero(infinite)[0])
        raise ObservationFileError(
            path, row + 2, f"value {values[row]:g} in column {column!r} is not finite"
        )
    values[np.isin(values, MISSING_CODES)] = np.nan
    return values


def _local_hours(
    path: Path, table: pd.DataFrame, columns: tuple[str, str, str, str]
) -> pd.DatetimeIndex:
    """Naive local timestamps from year, month, day, hour columns; bad ones are errors."""
    parts = {}
    for unit, column in zip(("year", "month", "day", "hour"), columns, strict=True):
        values = _numeric(path, table, column)
        missing = np.isnan(values)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ObservationFileError(path, row + 2, f"bad time: {column} is empty")
        parts[unit] = values
    hour = parts["hour"]
    bad = (hour < 0) | (hour > 23) | (hour != np.floor(hour))
    stamps = pd.to_datetime(pd.DataFrame(parts), errors="coerce")
    bad |= stamps.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        when = "-".join(str(parts[u][row]) for u in ("year", "month", "day"))
        raise ObservationFileError(
            path, row + 2, f"bad time: {when} hour {parts['hour'][row]} is not a valid date-hour"
        )
    return pd.DatetimeIndex(stamps)


def _utc(local: pd.DatetimeIndex, hour_ending: bool) -> pd.DatetimeIndex:
    """China Standard Time labels to UTC start-of-hour (see module docstring)."""
    utc = local - CHINA_STANDARD_OFFSET
    if hour_ending:
        utc = utc - ONE_HOUR
    return utc.tz_localize("UTC")


def _check_unique_hours(path: Path, keys: pd.DataFrame, lines: np.ndarray) -> None:
    duplicated = keys.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise ObservationFileError(
            path, int(lines[row]), "duplicate station-hour: this hour appears earlier in the file"
        )


def _frame(
    n: int,
    station: np.ndarray | str,
    city: np.ndarray | str | None,
    time: pd.DatetimeIndex,
    values: dict[str, np.ndarray],
    source: str,
) -> pd.DataFrame:
    """Assemble the canonical frame; value columns not given are NaN."""
    data: dict[str, object] = {
        "station": np.full(n, station, dtype=object) if isinstance(station, str) else station,
        "city": np.full(n, city, dtype=object) if city is None or isinstance(city, str) else city,
        "time": time,
    }
    for column in VALUE_COLUMNS:
        data[column] = values.get(column, np.full(n, np.nan))
    data["qc_flags"] = np.full(n, "", dtype=object)
    data["source"] = np.full(n, source, dtype=object)
    frame = pd.DataFrame(data)
    for column in ("station", "city", "qc_flags", "source"):
        frame[column] = frame[column].astype(object)
    return frame


def _first_lines(frame: pd.DataFrame, lines: np.ndarray) -> dict[tuple[str, str | None], int]:
    """The smallest line number of each (station, city) in the frame."""
    codes = station_keys(frame)
    if len(codes) == 0:
        return {}
    unique_codes, first_rows, inverse = np.unique(codes, return_index=True, return_inverse=True)
    first_line = np.full(len(unique_codes), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_line, inverse, lines.astype(np.int64))
    stations = frame["station"].to_numpy(dtype=object)[first_rows]
    cities = frame["city"].to_numpy(dtype=object)[first_rows]
    return {
        (str(station), None if pd.isna(city) else str(city)): int(line)
        for station, city, line in zip(stations, cities, first_line, strict=True)
    }


def _join_flags(first: pd.Series, second: pd.Series) -> pd.Series:
    """Concatenate two flag columns with a comma where both are non-empty."""
    a = first.to_numpy(dtype=object)
    b = second.to_numpy(dtype=object)
    both = (a != "") & (b != "")
    joined = np.where(both, a + "," + b, np.where(a != "", a, b))
    return pd.Series(joined, index=first.index, dtype=object)


# --------------------------------------------------------------------------- Beijing multi-site

MULTISITE_COLUMNS = {
    "PM2.5": "pm25",
    "PM10": "pm10",
    "SO2": "so2",
    "NO2": "no2",
    "CO": "co",
    "O3": "o3",
    "TEMP": "temp",
    "PRES": "pres",
    "DEWP": "dewp",
    "RAIN": "rain",
    "WSPM": "wspd",
}


def _read_beijing_multisite(
    path: Path, raw: bytes, encoding: str, header: list[str]
) -> ObservationFile:
    """UCI Beijing multi-site: one station per file, CO in µg/m³, labels are hour-ending."""
    usecols = ["year", "month", "day", "hour", *MULTISITE_COLUMNS, "wd", "station"]
    table = _read_csv(path, raw, encoding, usecols)
    n = len(table)
    lines = np.arange(n) + 2
    local = _local_hours(path, table, ("year", "month", "day", "hour"))
    values = {name: _numeric(path, table, column) for column, name in MULTISITE_COLUMNS.items()}
    values["co"] = values["co"] / 1000.0  # µg/m³ -> mg/m³
    values["wdir"] = _compass(path, table["wd"], COMPASS_DEGREES, allow_calm=False)
    station = table["station"].astype(object).to_numpy()
    if pd.isna(station).any():
        row = int(np.flatnonzero(pd.isna(station))[0])
        raise ObservationFileError(path, row + 2, "station name is empty")
    frame = _frame(
        n, station, "Beijing", _utc(local, hour_ending=True), values, "beijing-multisite"
    )
    _check_unique_hours(path, frame[["station", "time"]], lines)
    return ObservationFile(path, "beijing-multisite", frame, n, _first_lines(frame, lines), lines)


def _compass(path: Path, names: pd.Series, table: dict[str, float], allow_calm: bool) -> np.ndarray:
    """Direction names to degrees; unknown names are an error at their line."""
    text = names.astype(object)
    degrees = text.map(table).to_numpy(dtype="float64", na_value=np.nan)
    known = text.isin(list(table)).to_numpy() | text.isna().to_numpy()
    if allow_calm:
        known |= (text == CALM).to_numpy()
    if not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise ObservationFileError(
            path, row + 2, f"unknown wind direction {text.iloc[row]!r} in column {names.name!r}"
        )
    return degrees


# --------------------------------------------------------------------------- five cities

_FIVE_CITIES_NAME = re.compile(r"^([A-Za-z]+)PM\d{8}_\d{8}\.csv$")
FIVE_CITIES_WEATHER = {"DEWP": "dewp", "HUMI": "rh", "PRES": "pres", "TEMP": "temp"}


def _hourly_speed(
    cumulated: np.ndarray, direction: pd.Series, local: pd.DatetimeIndex
) -> np.ndarray:
    """Hourly wind speed (m/s) estimated from `Iws`, the running sum of hourly speeds.

    `Iws` restarts when the combined direction changes, so within a run of the same
    direction in consecutive hours the hour's speed is the increase of the sum, and at the
    start of a run it is the sum itself. Where the previous hour's direction is missing,
    in the file's first row, or where the sum decreases inside a run (a data error), the
    speed is unknown (NaN). The sums carry two decimals, and so do the speeds.
    """
    text = direction.astype(object)
    previous = text.shift(1)
    consecutive = np.r_[False, np.diff(_hour_numbers(local)) == 1]
    same_run = (text == previous).to_numpy() & consecutive
    # The first row's run may have begun before the file: its speed stays unknown.
    new_run = ~same_run & text.notna().to_numpy() & previous.notna().to_numpy()
    # Iws is written with two decimals; rounding the difference drops float noise.
    increase = np.round(np.r_[np.nan, np.diff(cumulated)], 2)
    speed = np.where(same_run, increase, np.where(new_run, cumulated, np.nan))
    speed[speed < 0] = np.nan
    return speed


def _hour_numbers(index: pd.DatetimeIndex) -> np.ndarray:
    """Whole hours since 1970 (int64), whatever the index's resolution."""
    return index.as_unit("s").asi8 // 3600


def _read_five_cities(path: Path, raw: bytes, encoding: str, header: list[str]) -> ObservationFile:
    """UCI five-cities: one row per hour, one PM2.5 column per site; labels are hour-start."""
    match = _FIVE_CITIES_NAME.match(path.name)
    if not match:
        raise ObservationFileError(
            path, None, "five-cities file name must be <City>PM<yyyymmdd>_<yyyymmdd>.csv"
        )
    city = match.group(1)
    pm_columns = [name for name in header if name.startswith("PM_")]
    weather_columns = [*FIVE_CITIES_WEATHER, "cbwd", "Iws", "precipitation"]
    table = _read_csv(
        path, raw, encoding, ["year", "month", "day", "hour", *pm_columns, *weather_columns]
    )
    n = len(table)
    local = _local_hours(path, table, ("year", "month", "day", "hour"))
    utc = _utc(local, hour_ending=False)
    weather = {name: _numeric(path, table, column) for column, name in FIVE_CITIES_WEATHER.items()}
    weather["rain"] = _numeric(path, table, "precipitation")
    weather["wdir"] = _compass(path, table["cbwd"], COMBINED_DIRECTION_DEGREES, allow_calm=True)
    weather["wspd"] = _hourly_speed(_numeric(path, table, "Iws"), table["cbwd"], local)
    pieces = []
    line_pieces = []
    for column in pm_columns:
        pm = _numeric(path, table, column)
        present = np.flatnonzero(~np.isnan(pm))
        if len(present) == 0:
            continue
        # A site's rows span its first to last reported hour: before its series starts
        # there is no site to speak of, and the city weather alone is not a station record.
        rows = slice(int(present[0]), int(present[-1]) + 1)
        count = rows.stop - rows.start
        values = {name: array[rows] for name, array in weather.items()}
        values["pm25"] = pm[rows]
        pieces.append(_frame(count, column[3:], city, utc[rows], values, "five-cities"))
        line_pieces.append(np.arange(rows.start, rows.stop) + 2)
    if pieces:
        frame = pd.concat(pieces, ignore_index=True)
        lines = np.concatenate(line_pieces)
    else:
        frame = _frame(0, np.array([], dtype=object), city, utc[:0], {}, "five-cities")
        lines = np.array([], dtype=int)
    _check_unique_hours(path, frame[["station", "time"]], lines)
    return ObservationFile(path, "five-cities", frame, n, _first_lines(frame, lines), lines)


# --------------------------------------------------------------------------- 2010 US Embassy

PRSA_2010_COLUMNS = {"pm2.5": "pm25", "DEWP": "dewp", "TEMP": "temp", "PRES": "pres"}


def _read_beijing_prsa_2010(
    path: Path, raw: bytes, encoding: str, header: list[str]
) -> ObservationFile:
    """UCI Beijing PM2.5 2010-2014: US Embassy PM2.5 plus airport weather, hour-ending labels.

    The station is "US Post" in Beijing, as in the five-cities file. `Iws` gives the wind
    speed as in five-cities; `Ir` counts hours of rain, not an amount, so `rain` stays NaN.
    Rows before the first PM2.5 value (all of 2010-01-01) are dropped, as in five-cities.
    """
    table = _read_csv(
        path, raw, encoding, ["year", "month", "day", "hour", *PRSA_2010_COLUMNS, "cbwd", "Iws"]
    )
    n = len(table)
    local = _local_hours(path, table, ("year", "month", "day", "hour"))
    values = {name: _numeric(path, table, column) for column, name in PRSA_2010_COLUMNS.items()}
    values["wdir"] = _compass(path, table["cbwd"], COMBINED_DIRECTION_DEGREES, allow_calm=True)
    values["wspd"] = _hourly_speed(_numeric(path, table, "Iws"), table["cbwd"], local)
    present = np.flatnonzero(~np.isnan(values["pm25"]))
    rows = slice(int(present[0]), int(present[-1]) + 1) if len(present) else slice(0, 0)
    count = rows.stop - rows.start
    values = {name: array[rows] for name, array in values.items()}
    utc = _utc(local, hour_ending=True)[rows]
    frame = _frame(count, "US Post", "Beijing", utc, values, "beijing-prsa-2010")
    lines = np.arange(rows.start, rows.stop) + 2
    _check_unique_hours(path, frame[["station", "time"]], lines)
    return ObservationFile(path, "beijing-prsa-2010", frame, n, _first_lines(frame, lines), lines)


# --------------------------------------------------------------------------- StateAir

STATEAIR_STATION = "US Post"


def _repair_us_spring_forward(local: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Undo the US daylight-saving artefact in StateAir labels.

    On the US spring-forward Sundays (2015-03-08, 2016-03-13) the files skip 02:00 and
    label two consecutive rows 03:00, although China Standard Time has no such jump. The
    first of the pair is the 02:00 hour (its value equals the five-cities 02:00 value), so
    a row whose label repeats on the next row, two hours after the previous row's label,
    is moved back one hour. Other repeated labels stay and are refused as duplicates.
    """
    hours = _hour_numbers(local)
    if len(hours) < 3:
        return local
    repeated_next = np.r_[hours[:-1] == hours[1:], False]
    after_gap = np.r_[False, hours[1:] - hours[:-1] == 2]
    skipped = repeated_next & after_gap
    if not skipped.any():
        return local
    return pd.DatetimeIndex(np.where(skipped, local - ONE_HOUR, local))


def _read_stateair(path: Path, raw: bytes, encoding: str, header: list[str]) -> ObservationFile:
    """US State Department StateAir PM2.5: `Site` is the city; labels are hour-start LST.

    `Value = -999` or `QC Name = Missing` is a missing value. Any other QC name than
    Valid/Missing is kept as a `pm25:<name>` flag (none occur in the 2015-2016 files).
    """
    usecols = ["Site", "Parameter", "Year", "Month", "Day", "Hour", "Value", "QC Name"]
    table = _read_csv(path, raw, encoding, usecols)
    n = len(table)
    lines = np.arange(n) + 2
    parameter = table["Parameter"].astype(object)
    wrong = ~(parameter == "PM2.5").to_numpy()
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise ObservationFileError(
            path, row + 2, f"unsupported Parameter {parameter.iloc[row]!r} (only PM2.5)"
        )
    local = _repair_us_spring_forward(_local_hours(path, table, ("Year", "Month", "Day", "Hour")))
    pm25 = _numeric(path, table, "Value")
    qc_name = table["QC Name"].astype(object).fillna("")
    pm25[(qc_name == "Missing").to_numpy()] = np.nan
    city = table["Site"].astype(object).to_numpy()
    frame = _frame(
        n, STATEAIR_STATION, city, _utc(local, hour_ending=False), {"pm25": pm25}, "stateair"
    )
    other = ~qc_name.isin(["Valid", "Missing"]).to_numpy()
    if other.any():
        names = qc_name.str.strip().str.lower().str.replace(r"\W+", "-", regex=True)
        frame.loc[other, "qc_flags"] = ("pm25:" + names[other]).to_numpy()
    _check_unique_hours(path, frame[["station", "city", "time"]], lines)
    return ObservationFile(path, "stateair", frame, n, _first_lines(frame, lines), lines)


# --------------------------------------------------------------------------- long CSV

_ISO_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"


def _read_long_csv(path: Path, raw: bytes, encoding: str, header: list[str]) -> ObservationFile:
    """The long format (see docs/observations.md): one pollutant value per line.

    `station,time,pollutant,value,unit` plus an optional `city` column. `time` is ISO 8601
    with a UTC offset and is the start of the hour; values are converted to canonical
    units (CO to mg/m³, the rest to µg/m³). Lines are pivoted to one row per station-hour.
    """
    missing = [name for name in LONG_REQUIRED if name not in header]
    if missing:
        raise ObservationFileError(path, HEADER_LINE, f"missing column(s): {', '.join(missing)}")
    usecols = [*LONG_REQUIRED, *(["city"] if "city" in header else [])]
    table = _read_csv(path, raw, encoding, usecols)
    n = len(table)
    station = table["station"].astype(object).str.strip()
    empty = station.isna() | (station == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise ObservationFileError(path, row + 2, "station is empty")
    if "city" in table:
        city = table["city"].astype(object).str.strip()
        city = city.where(city.notna() & (city != ""), None)
    else:
        city = pd.Series(np.full(n, None, dtype=object))
    time_text = table["time"].astype(object).fillna("").str.strip()
    well_formed = time_text.str.match(_ISO_WITH_OFFSET).to_numpy(dtype=bool)
    stamps = pd.to_datetime(
        time_text.where(well_formed), format="ISO8601", utc=True, errors="coerce"
    )
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ObservationFileError(
            path,
            row + 2,
            f"bad time {time_text.iloc[row]!r}: want ISO 8601 with a UTC offset, "
            "e.g. 2015-01-15T08:00:00+08:00",
        )
    stamps_index = pd.DatetimeIndex(stamps)
    off_hour = stamps_index.floor("h") != stamps_index
    if off_hour.any():
        row = int(np.flatnonzero(off_hour)[0])
        raise ObservationFileError(
            path, row + 2, f"bad time {time_text.iloc[row]!r}: not the start of an hour"
        )
    pollutant = table["pollutant"].astype(object).str.strip().str.lower()
    unknown = ~pollutant.isin(list(LONG_POLLUTANTS)).to_numpy()
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ObservationFileError(
            path,
            row + 2,
            f"unknown pollutant {table['pollutant'].iloc[row]!r}: "
            f"want one of {', '.join(POLLUTANTS)}",
        )
    unit = table["unit"].astype(object).str.strip()
    factor = unit.map(UNIT_TO_MICROGRAMS).to_numpy(dtype="float64", na_value=np.nan)
    bad_unit = np.isnan(factor)
    if bad_unit.any():
        row = int(np.flatnonzero(bad_unit)[0])
        raise ObservationFileError(
            path, row + 2, f"unknown unit {table['unit'].iloc[row]!r}: want ug/m3, µg/m3 or mg/m3"
        )
    with np.errstate(over="ignore"):
        value = _numeric(path, table, "value") * factor
    overflow = np.isinf(value)
    if overflow.any():
        row = int(np.flatnonzero(overflow)[0])
        raise ObservationFileError(
            path,
            row + 2,
            f"value {table['value'].iloc[row]} {unit.iloc[row]} is not finite in µg/m³",
        )
    is_co = (pollutant == "co").to_numpy()
    value[is_co] = value[is_co] / 1000.0  # CO is stored in mg/m³
    # One output row per (station, city, hour): an int64 key per line, then factorize.
    station_code = station_keys(pd.DataFrame({"station": station, "city": city}))
    hours = stamps_index.as_unit("s").asi8 // 3600
    hours = hours - hours.min() if n else hours
    hour_key = station_code * (int(hours.max()) + 1 if n else 1) + hours
    pollutant_code = pollutant.map({p: i for i, p in enumerate(POLLUTANTS)}).to_numpy(
        dtype=np.int64
    )
    duplicated = pd.Series(hour_key * len(POLLUTANTS) + pollutant_code).duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise ObservationFileError(
            path, row + 2, "duplicate value: this station, hour and pollutant appear earlier"
        )
    codes, unique_keys = pd.factorize(hour_key)
    m = len(unique_keys)
    wide = {name: np.full(m, np.nan) for name in POLLUTANTS}
    for i, name in enumerate(POLLUTANTS):
        mask = pollutant_code == i
        wide[name][codes[mask]] = value[mask]
    # factorize numbers keys in order of first appearance, so each key's first line is
    # where its code first occurs.
    _, first_row = np.unique(codes, return_index=True)
    frame = _frame(
        m,
        station.to_numpy(dtype=object)[first_row],
        city.to_numpy(dtype=object)[first_row],
        stamps_index[first_row],
        wide,
        "long-csv",
    )
    order = np.lexsort((hours[first_row], station_code[first_row]))
    frame = frame.iloc[order].reset_index(drop=True)
    lines = first_row[order] + 2
    return ObservationFile(path, "long-csv", frame, n, _first_lines(frame, lines), lines)

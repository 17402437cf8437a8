"""`POST /v1/observations` (ingest keys scoped to stations) and the observation inbox:
the file import's checks, QC and merge rule, all or nothing, refusals naming row and field."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.service import KeyRequestError, create_key
from app.cli import cli
from app.observations.models import Observation
from app.observations.push import process_observation_inbox
from app.observations.service import as_utc
from app.stations.service import import_station_list
from app.timestamps import utcnow

runner = CliRunner()
KEY = re.compile(r"^hw_[A-Za-z0-9_-]{43}$", re.MULTILINE)
CSV_HEADER = "station,city,time,pollutant,value,unit\n"
GOOD_ROWS = (
    "Dongsi,Beijing,2017-01-10T12:00:00+08:00,pm25,182,ug/m3\n"
    "Dongsi,Beijing,2017-01-10T12:00:00+08:00,co,2.1,mg/m3\n"
    "Dongsi,Beijing,2017-01-10T13:00:00+08:00,pm25,190,ug/m3\n"
)


@pytest.fixture
def stations(db: Session, shared_data: Path) -> Session:
    import_station_list(db, shared_data / "knowair_meta" / "station_info.csv")
    db.commit()
    return db


def _key(db: Session, role: str, **scope: list[str]) -> dict[str, str]:
    created = create_key(db, name=f"{role} test", role=role, now=utcnow(), **scope)
    db.commit()
    return {"Authorization": f"Bearer {created.key}"}


def _count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Observation)) or 0


def _csv(client: TestClient, body: str, headers: dict[str, str]) -> object:
    return client.post(
        "/v1/observations", content=body.encode(), headers=headers | {"Content-Type": "text/csv"}
    )


def test_ingest_keys_are_scoped_to_stored_stations(stations: Session) -> None:
    result = runner.invoke(
        cli, ["keys", "create", "--role", "ingest", "--station", "1003A", "--name", "BJ network"]
    )
    assert result.exit_code == 0, result.output
    for args, message in (
        (["--role", "ingest", "--name", "x"], "--station: an ingest key needs at least one"),
        (["--role", "ingest", "--station", "9999Z", "--name", "x"], "unknown station id(s) 9999Z"),
        (
            ["--role", "ingest", "--station", "1003A", "--city", "110000", "--name", "x"],
            "scoped by --station only",
        ),
        (
            ["--role", "city_office", "--city", "110000", "--station", "1003A", "--name", "x"],
            "--station: a city_office key is not scoped by station",
        ),
    ):
        refused = runner.invoke(cli, ["keys", "create", *args])
        assert refused.exit_code == 2 and message in refused.output, refused.output
    with pytest.raises(KeyRequestError):
        create_key(stations, name="x", role="ingest", now=utcnow())


def test_a_push_is_stored_once_and_merges_like_a_file_import(
    stations: Session, client: TestClient
) -> None:
    ingest = _key(stations, "ingest", station_ids=["1003A"])
    me = client.get("/v1/auth/me", headers=ingest).json()
    assert me["role"] == "ingest" and me["station_ids"] == ["1003A"] and me["scope_cities"] == []

    first = _csv(client, CSV_HEADER + GOOD_ROWS, ingest)
    assert first.status_code == 200, first.text  # type: ignore[attr-defined]
    assert first.json() == {  # type: ignore[attr-defined]
        "rows": 3,
        "station_hours": 2,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
    }
    # The same rows again: nothing new (idempotent on station, hour, pollutant).
    again = _csv(client, CSV_HEADER + GOOD_ROWS, ingest).json()  # type: ignore[attr-defined]
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
    # JSON lines: a new pollutant of a stored hour fills its column, the rest stays.
    lines = [
        {"station": "Dongsi", "city": "Beijing", "time": "2017-01-10T04:00:00Z",
         "pollutant": "o3", "value": 12, "unit": "ug/m3"},
        {"station": "Dongsi", "city": "Beijing", "time": "2017-01-10T13:00:00+08:00",
         "pollutant": "pm25", "value": 190, "unit": "ug/m3"},
    ]  # fmt: skip
    pushed = client.post(
        "/v1/observations",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers=ingest | {"Content-Type": "application/x-ndjson"},
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["updated"] == 1 and pushed.json()["unchanged"] == 1
    rows = {as_utc(o.time).hour: o for o in stations.scalars(select(Observation))}
    noon = rows[4]
    assert (noon.station_id, noon.pm25, noon.co, noon.o3) == ("1003A", 182, 2.1, 12)
    assert noon.source == "push"
    assert _count(stations) == 2


def test_qc_flags_a_pushed_value_as_the_file_import_does(
    stations: Session, client: TestClient
) -> None:
    ingest = _key(stations, "ingest", station_ids=["1003A"])
    body = CSV_HEADER + "Dongsi,Beijing,2017-01-10T12:00:00+08:00,pm25,-5,ug/m3\n"
    assert _csv(client, body, ingest).status_code == 200  # type: ignore[attr-defined]
    stored = stations.scalars(select(Observation)).one()
    assert stored.qc_flags == "pm25:negative"


@pytest.mark.parametrize(
    ("body", "row", "field", "reason"),
    [
        (
            CSV_HEADER + GOOD_ROWS + "Dongsi,Beijing,2017-01-10 14:00,pm25,1,ug/m3\n",
            4,
            "body[4].time",
            "bad time",
        ),
        (CSV_HEADER + GOOD_ROWS.replace(",co,", ",soot,"), 2, "body[2].pollutant", "unknown"),
        (CSV_HEADER + GOOD_ROWS.replace("2.1,mg", "lots,mg"), 2, "body[2].value", "text"),
        (CSV_HEADER + GOOD_ROWS.replace("ug/m3", "ppb", 1), 1, "body[1].unit", "unknown unit"),
        (
            CSV_HEADER + GOOD_ROWS + GOOD_ROWS.splitlines()[0] + "\n",
            4,
            "body[4].pollutant",
            "duplicate",
        ),
        (
            CSV_HEADER + GOOD_ROWS + "Atlantis,Beijing,2017-01-10T12:00:00+08:00,pm25,1,ug/m3\n",
            4,
            "body[4].station",
            "unknown station",
        ),
        ("station,when,value\nDongsi,x,1\n", None, "body.header", "unknown format"),
    ],
)
def test_a_bad_row_refuses_the_whole_push_naming_row_and_field(
    stations: Session, client: TestClient, body: str, row: int | None, field: str, reason: str
) -> None:
    ingest = _key(stations, "ingest", station_ids=["1003A"])
    answer = _csv(client, body, ingest)
    assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
    assert answer.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    problem = answer.json()  # type: ignore[attr-defined]
    assert problem["row"] == row
    assert problem["errors"][0]["field"] == field
    assert reason in problem["detail"]
    assert _count(stations) == 0  # all or nothing: the good rows before it are not stored


def test_json_lines_refusals_name_the_line(stations: Session, client: TestClient) -> None:
    ingest = _key(stations, "ingest", station_ids=["1003A"])
    good = {"station": "Dongsi", "city": "Beijing", "time": "2017-01-10T04:00:00Z",
            "pollutant": "pm25", "value": 80, "unit": "ug/m3"}  # fmt: skip
    for second, field in (
        (good | {"value": "high"}, "body[2].value"),
        ({k: v for k, v in good.items() if k != "unit"}, "body[2].unit"),
        (good | {"time": "2017-01-10T04:30:00Z"}, "body[2].time"),
        ([1, 2], "body[2]"),
    ):
        body = json.dumps(good) + "\n" + json.dumps(second) + "\n"
        answer = client.post(
            "/v1/observations",
            content=body.encode(),
            headers=ingest | {"Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["row"] == 2 and answer.json()["errors"][0]["field"] == field
    assert _count(stations) == 0


def test_who_may_push(stations: Session, client: TestClient) -> None:
    body = CSV_HEADER + GOOD_ROWS + "Tiantan,Beijing,2017-01-10T12:00:00+08:00,pm25,1,ug/m3\n"
    ingest = _key(stations, "ingest", station_ids=["1003A"])
    outside = _csv(client, body, ingest)
    assert outside.status_code == 403  # type: ignore[attr-defined]
    problem = outside.json()  # type: ignore[attr-defined]
    assert problem["row"] == 4 and problem["errors"][0]["field"] == "body[4].station"
    assert "1004A" in problem["detail"]
    assert _count(stations) == 0
    assert _csv(client, body, {}).status_code == 401  # type: ignore[attr-defined]
    duty = _key(stations, "duty_officer")
    assert _csv(client, body, duty).status_code == 403  # type: ignore[attr-defined]
    admin = _key(stations, "admin")  # admins push for any station
    assert _csv(client, body, admin).json()["station_hours"] == 3  # type: ignore[attr-defined]
    wrong = client.post(
        "/v1/observations", content=b"{}", headers=ingest | {"Content-Type": "application/json"}
    )
    assert wrong.status_code == 415
    assert wrong.json()["errors"][0]["field"] == "header.content-type"


def test_the_observation_inbox_imports_files_and_sets_bad_ones_aside(
    stations: Session, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text(CSV_HEADER + GOOD_ROWS)
    good = {"station": "Tiantan", "city": "Beijing", "time": "2017-01-10T04:00:00Z",
            "pollutant": "pm25", "value": 80, "unit": "ug/m3"}  # fmt: skip
    (inbox / "b.jsonl").write_text(json.dumps(good) + "\n")
    (inbox / "c.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(good | {"unit": "ppb"}))
    (inbox / "notes.txt").write_text("not an observation file")
    old = time.time() - 120
    for path in inbox.iterdir():
        os.utime(path, (old, old))
    (inbox / "d.csv").write_text(CSV_HEADER + GOOD_ROWS)  # still being written: left alone

    outcomes = process_observation_inbox(utcnow(), inbox=inbox, settle_seconds=30)
    assert [(o.name, o.status) for o in outcomes] == [
        ("a.csv", "imported"),
        ("b.jsonl", "imported"),
        ("c.jsonl", "failed"),
    ]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.csv", "b.jsonl"]
    error = (inbox / "failed" / "c.jsonl.error.txt").read_text()
    assert "row 2" in error and "unknown unit" in error
    assert sorted(p.name for p in inbox.iterdir()) == ["d.csv", "done", "failed", "notes.txt"]
    assert _count(stations) == 3
    assert process_observation_inbox(utcnow(), inbox=inbox, settle_seconds=30) == []

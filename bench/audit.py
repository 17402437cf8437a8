"""Known vulnerabilities of the installed dependencies: `pip-audit`, as a report.

    .venv/bin/python bench/audit.py [--service pypi|osv] [--no-write]

Runs ``pip-audit`` (a dev extra) on this environment (hazewarn itself, installed editable,
is skipped), prints the findings and writes them into docs/reliability.md
(``### Dependency audit``): every vulnerable package with its version, the advisory ids
and the first fixed versions. It is a report, not a gate: the command exits 0 whatever
it finds. When pip-audit cannot reach its vulnerability database (the PyPI JSON API by
default, or OSV), the report says so instead of claiming a clean result.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import metadata
from typing import Any

from common import load_average
from reliability_common import machine, write_figure

TITLE = "Dependency audit"


def run_audit(service: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report (None when it failed) and its error text."""
    command = [
        sys.executable, "-m", "pip_audit",
        "--format", "json",
        "--progress-spinner", "off",
        "--skip-editable",
        "--vulnerability-service", service,
        "--timeout", "30",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return None, "pip-audit did not finish within 30 minutes"
    try:
        return json.loads(done.stdout), done.stderr.strip()
    except json.JSONDecodeError:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return None, lines[-1] if lines else f"pip-audit exited with {done.returncode}"


def usable(found: dict[str, Any] | None, error: str) -> tuple[dict[str, Any] | None, str]:
    """``found`` unless every lookup was skipped: that is an unreachable vulnerability
    database (the PyPI JSON API answering "not found" for everything), not a clean bill."""
    deps = found.get("dependencies", []) if found is not None else []
    if found is not None and deps and all(d.get("skip_reason") for d in deps):
        return None, f"all {len(deps)} distributions skipped, e.g. {deps[0]['skip_reason']}"
    return found, error


def report(
    found: dict[str, Any] | None,
    failures: list[tuple[str, str]],
    service: str,
    load_start: str,
) -> str:
    try:
        version = metadata.version("pip-audit")
    except metadata.PackageNotFoundError:
        version = "not installed"
    command = f"`.venv/bin/python bench/audit.py --service {service}`"
    lines = [f"`pip-audit` {version} on the installed dependencies (command: {command}). A "
             "report, not a CI gate."]  # fmt: skip
    deps = found.get("dependencies", []) if found is not None else []
    for name, error in failures:
        lines += ["", f"- vulnerability database `{name}` unreachable from here: `{error}`"]
    if found is None:
        lines += [
            "",
            "**Not audited:** pip-audit could not reach any vulnerability database from "
            "this machine (only package indexes are reachable). Run the command where the "
            "PyPI JSON API or OSV is reachable.",
        ]
    else:
        vulnerable = [d for d in deps if d.get("vulns")]
        skipped = [d for d in deps if d.get("skip_reason")]
        lines += [
            "",
            f"{len(deps)} distributions checked, {len(skipped)} skipped, "
            f"**{len(vulnerable)} with known vulnerabilities**" + (":" if vulnerable else "."),
        ]
        if vulnerable:
            lines += ["", "| package | installed | advisory | fixed in |", "|---|---|---|---|"]
            for dep in vulnerable:
                for vuln in dep["vulns"]:
                    ids = ", ".join([vuln["id"], *vuln.get("aliases", [])[:2]])
                    fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
                    lines.append(f"| {dep['name']} | {dep['version']} | {ids} | {fixed} |")
        if skipped:
            names = ", ".join(f"{d['name']} ({d['skip_reason']})" for d in skipped[:10])
            lines += ["", f"Skipped: {names}."]
    lines += ["", machine(load_start)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--service",
        default="pypi,osv",
        help="vulnerability databases to try in order until one answers (pypi, osv)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args()
    load_start = load_average()
    found = None
    failures: list[tuple[str, str]] = []
    for service in args.service.split(","):
        found, error = usable(*run_audit(service.strip()))
        if found is not None:
            break
        failures.append((service, error))
    text = report(found, failures, args.service, load_start)
    print(text)
    if not args.no_write:
        write_figure(TITLE, text)


if __name__ == "__main__":
    main()

"""Known vulnerabilities in the installed dependencies: a `pip-audit` report (not a gate).

Runs ``pip-audit`` (dev extras) over this virtualenv's installed distributions, skipping
hazewarn itself (it is not on PyPI), and writes a table of the findings — package, version,
advisory, fixed versions — into ``## Dependency audit`` of docs/reliability.md
(``--no-docs``: only print). pip-audit asks its vulnerability service (PyPI's advisory data
by default, ``--service osv`` for OSV) about every installed distribution, so it needs
network access to that service.

Command: ``.venv/bin/python bench/audit.py [--service pypi|osv] [--no-docs]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine_info, write_section

DOC = REPO / "docs" / "reliability.md"


def audit(service: str) -> dict[str, object]:
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    command += ["--vulnerability-service", service, "--skip-editable"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    # pip-audit exits 1 when it finds something; its JSON is on stdout either way.
    if not done.stdout.strip():
        raise SystemExit(f"pip-audit failed (exit {done.returncode}): {done.stderr.strip()}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def report(result: dict[str, object], service: str) -> str:
    dependencies = result.get("dependencies", [])
    assert isinstance(dependencies, list)
    rows = []
    for dep in dependencies:
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            aliases = ", ".join(vuln.get("aliases", []))
            rows.append(f"| {dep['name']} | {dep['version']} | {vuln['id']} {aliases} | {fixed} |")
    skipped = [d["name"] for d in dependencies if d.get("skip_reason")]
    lines = [
        f"{len(dependencies)} installed distributions audited against the {service} "
        f"advisory data: {len(rows)} known vulnerabilit{'y' if len(rows) == 1 else 'ies'}"
        + (f"; not audited: {', '.join(skipped)}" if skipped else "")
        + ". Command: `.venv/bin/python bench/audit.py`.",
        "",
    ]
    if rows:
        lines += ["| package | version | advisory | fixed in |", "|---|---|---|---|", *rows, ""]
    lines.append(machine_info(["pip-audit"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=["pypi", "osv"], default="pypi")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    body = report(audit(args.service), args.service)
    print(body)
    if not args.no_docs:
        write_section("Dependency audit", body, DOC)


if __name__ == "__main__":
    main()

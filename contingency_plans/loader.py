"""Read plan and region files, validate them, and name their versions.

Only the files handed in are read, and the templates a plan ``extends`` (in the
``templates/`` folder beside it, see :mod:`contingency_plans.templates`). Every problem is
reported with the file, the path of the value inside it
(``levels.orange.measures[2].department``) and, where the YAML tells us, its line number; a
problem of a merged plan names the file (plan or template) that wrote the value. A broken
file never yields a half-valid plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from contingency_plans.schema import (
    Plan,
    Region,
    validate_plan_data,
    validate_region_data,
)
from contingency_plans.templates import EXTENDS_KEY, TEMPLATES_DIRNAME, resolve_extends

PACKAGE_DIR = Path(__file__).resolve().parent
PLANS_DIR = PACKAGE_DIR / "plans"
"""The shipped city plans, one YAML file per city."""
REGIONS_DIR = PACKAGE_DIR / "regions"
"""The shipped regional groupings."""
TEMPLATES_DIR = PLANS_DIR / TEMPLATES_DIRNAME
"""The shipped province templates that city plans ``extend``."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file: ``file:line: path: message``."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PlanError(ValueError):
    """A plan or region file is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


# --- YAML with line numbers --------------------------------------------------------------

# libyaml's loader is about ten times faster and keeps the same line marks.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """The document's data and the 1-based line of every path in it (keys' lines for maps)."""
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(current: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = (*path, key)
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    walk(node, ())
    return data, lines


def _split_path(path: str) -> tuple[str | int, ...]:
    """``levels.orange.measures[2].department`` → the tuple of its keys and indexes."""
    parts: list[str | int] = []
    for dotted in path.split(".") if path else []:
        name, _, rest = dotted.partition("[")
        if name:
            parts.append(name)
        for index in rest.rstrip("]").split("][") if rest else []:
            parts.append(int(index))
    return tuple(parts)


def _line_of(path: str, lines: dict[tuple[str | int, ...], int]) -> int | None:
    """The line of the path, or of its nearest ancestor present (a missing field's parent)."""
    parts = _split_path(path)
    while True:
        if parts in lines:
            return lines[parts]
        if not parts:
            return None
        parts = parts[:-1]


# --- reading files -------------------------------------------------------------------------


def _read(source: Path) -> tuple[Any, dict[tuple[str | int, ...], int], list[Problem]]:
    name = str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, {}, [Problem(name, "", "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, {}, [Problem(name, "", f"cannot read file: {exc}")]
    return _parse_text(text, name)


def _parse_text(
    text: str, name: str
) -> tuple[Any, dict[tuple[str | int, ...], int], list[Problem]]:
    try:
        data, lines = _parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        return None, {}, [Problem(name, "", f"YAML syntax error: {exc.problem}", line)]
    except yaml.YAMLError as exc:
        return None, {}, [Problem(name, "", f"YAML syntax error: {exc}")]
    if not isinstance(data, dict):
        return None, {}, [Problem(name, "", "expected a mapping at the top of the file", 1)]
    return data, lines, []


def _plan_from(
    data: Any, lines: dict[tuple[str | int, ...], int], name: str, templates: Path
) -> tuple[Plan | None, list[Problem]]:
    if isinstance(data, dict) and EXTENDS_KEY in data:
        return _extended_plan_from(data, lines, name, templates)
    plan, errors = validate_plan_data(data)
    return plan, _located(errors, lines, name)


def _read_for_templates(
    source: Path,
) -> tuple[Any, dict[tuple[str | int, ...], int], list[tuple[str, str, str, int | None]]]:
    name = str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, {}, [(name, "", f"cannot read file: {exc}", None)]
    data, lines, problems = _parse_template_text(text, name)
    return data, lines, [(p.file, p.path, p.message, p.line) for p in problems]


@lru_cache(maxsize=32)
def _parse_template_text(
    text: str, name: str
) -> tuple[Any, dict[tuple[str | int, ...], int], list[Problem]]:
    # Every plan of a province reads the same templates: parse each text once. Keyed on
    # the text itself, so an edited template is parsed again; merging never mutates it.
    return _parse_text(text, name)


def _extended_plan_from(
    data: dict[str, Any], lines: dict[tuple[str | int, ...], int], name: str, templates: Path
) -> tuple[Plan | None, list[Problem]]:
    """A plan that extends a template: merged, then validated exactly like a full plan."""
    merged, origin, merge_problems = resolve_extends(
        data, lines, name, templates, _read_for_templates
    )
    if merged is None:
        return None, [Problem(f, path, message, line) for f, path, message, line in merge_problems]
    plan, errors = validate_plan_data(merged)
    problems = []
    for path, message in errors:
        where = origin.at(_split_path(path))
        problems.append(Problem(where.file, path, message, where.line))
    # The plan's own file first, then each template, each in line order.
    problems.sort(key=lambda p: (p.file != name, p.file, p.line if p.line is not None else 0))
    return plan, problems


def _region_from(
    data: Any, lines: dict[tuple[str | int, ...], int], name: str
) -> tuple[Region | None, list[Problem]]:
    region, errors = validate_region_data(data)
    return region, _located(errors, lines, name)


def _located(
    errors: list[tuple[str, str]], lines: dict[tuple[str | int, ...], int], name: str
) -> list[Problem]:
    """Problems with their line numbers, in the order they appear in the file."""
    problems = [Problem(name, path, message, _line_of(path, lines)) for path, message in errors]
    return sorted(problems, key=lambda p: p.line if p.line is not None else 0)


def _templates_beside(source: Path) -> Path:
    return source.parent / TEMPLATES_DIRNAME


def parse_plan_text(text: str, name: str = "<text>", templates: Path = TEMPLATES_DIR) -> Plan:
    """Validate plan YAML given as text; raises :class:`PlanError` listing every problem.

    A plan that ``extends`` a template finds it in ``templates`` (default: the shipped ones).
    """
    data, lines, problems = _parse_text(text, name)
    if problems:
        raise PlanError(problems)
    plan, problems = _plan_from(data, lines, name, templates)
    if plan is None:
        raise PlanError(problems)
    return plan


def load_plan(path: str | Path) -> Plan:
    """Read and validate one plan file; raises :class:`PlanError` listing every problem."""
    source = Path(path)
    data, lines, problems = _read(source)
    if problems:
        raise PlanError(problems)
    plan, problems = _plan_from(data, lines, str(source), _templates_beside(source))
    if plan is None:
        raise PlanError(problems)
    return plan


def load_region(path_or_id: str | Path, directory: str | Path = REGIONS_DIR) -> Region:
    """Read and validate one region, given its file or its id (``jjj-2+26``: the file of
    that id in ``directory``); raises :class:`PlanError` listing every problem, or
    KeyError for an unknown id."""
    source = Path(path_or_id)
    if isinstance(path_or_id, str) and not source.suffix:
        regions = load_regions(directory)
        if path_or_id not in regions:
            raise KeyError(f"unknown region {path_or_id!r}; known: {', '.join(sorted(regions))}")
        return regions[path_or_id]
    data, lines, problems = _read(source)
    if problems:
        raise PlanError(problems)
    region, problems = _region_from(data, lines, str(source))
    if region is None:
        raise PlanError(problems)
    return region


def load_file(path: str | Path) -> Plan | Region:
    """Read and validate a plan or region file (a top-level ``region:`` key marks a region)."""
    source = Path(path)
    data, lines, problems = _read(source)
    if problems:
        raise PlanError(problems)
    parsed: Plan | Region | None
    if "region" in data:
        parsed, problems = _region_from(data, lines, str(source))
    else:
        parsed, problems = _plan_from(data, lines, str(source), _templates_beside(source))
    if parsed is None:
        raise PlanError(problems)
    return parsed


def plan_files(directory: str | Path) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files of a folder, sorted by name."""
    folder = Path(directory)
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_plans(directory: str | Path = PLANS_DIR) -> dict[str, Plan]:
    """Every plan in a folder, keyed by city code; raises :class:`PlanError` if any is broken
    or two files name the same city."""
    problems, parsed = check_files(plan_files(directory))
    if problems:
        raise PlanError(problems)
    return {item.code: item for item in parsed if isinstance(item, Plan)}


def load_regions(directory: str | Path = REGIONS_DIR) -> dict[str, Region]:
    """Every region in a folder, keyed by region id; raises :class:`PlanError` if any is broken."""
    problems, parsed = check_files(plan_files(directory))
    if problems:
        raise PlanError(problems)
    return {item.region.id: item for item in parsed if isinstance(item, Region)}


def validate_files(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem of every file, in file order (``[]`` when all are valid).

    A file whose top level has ``region:`` is checked as a region, any other as a city
    plan. Two plan files for the same city, or two region files with the same id, are a
    problem of the later file.
    """
    return check_files(paths)[0]


def check_files(paths: Iterable[str | Path]) -> tuple[list[Problem], list[Plan | Region]]:
    """Every problem of the files, and the plans and regions that are valid."""
    problems: list[Problem] = []
    parsed: list[Plan | Region] = []
    owners: dict[str, str] = {}  # "city 110000" / "region yrd" -> file that defines it
    for path in paths:
        source = Path(path)
        name = str(source)
        data, lines, read_problems = _read(source)
        if read_problems:
            problems.extend(read_problems)
            continue
        item: Plan | Region | None
        if "region" in data:
            item, found = _region_from(data, lines, name)
            key, where = (f"region {item.region.id}", "region.id") if item else ("", "")
        else:
            item, found = _plan_from(data, lines, name, _templates_beside(source))
            key, where = (f"city {item.code}", "city.code") if item else ("", "")
        # A template's problem is found again through every plan extending it: say it once.
        problems.extend(problem for problem in found if problem not in problems)
        if item is None:
            continue
        if key in owners:
            problems.append(
                Problem(
                    name, where, f"{key} is also defined in {owners[key]}", _line_of(where, lines)
                )
            )
            continue
        owners[key] = name
        parsed.append(item)
    return problems, parsed


# --- versions ------------------------------------------------------------------------------


def canonical_json(plan: Plan) -> str:
    """The validated plan as canonical JSON: sorted keys, no spaces, UTF-8 text kept."""
    return json.dumps(
        plan.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


def plan_version(source: Plan | Path | str) -> str:
    """The plan's version: the first 12 hex digits of sha256 of its canonical JSON.

    ``source`` is a validated :class:`Plan`, a :class:`~pathlib.Path` to a plan file, or a
    ``str`` that is either the path of an existing file (one line, no newline) or the YAML
    text itself. The version depends only on the validated content: comments, key order,
    quoting and layout do not change it; any change of a value does.
    """
    if isinstance(source, Plan):
        plan = source
    elif isinstance(source, Path) or ("\n" not in source and Path(source).is_file()):
        plan = load_plan(source)
    else:
        plan = parse_plan_text(source)
    return hashlib.sha256(canonical_json(plan).encode("utf-8")).hexdigest()[:12]

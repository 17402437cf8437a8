"""Plan templates: a plan that says ``extends: <template>`` gives only its own overrides.

Templates are partial plans in the ``templates/`` folder beside the plans
(``plans/templates/hebei.yaml`` is the template ``hebei``); a template may itself extend
another one (``hebei`` extends ``national``). Resolving a plan merges the chain, most
general first, then the plan's own file:

- mappings merge deeply: a key the overriding file gives replaces the inherited value,
  except that two mappings under the same key are merged in turn;
- lists and scalars replace the inherited value whole (``null`` too);
- ``key+: [...]`` appends its items to the inherited list ``key`` (an empty list when
  nothing is inherited); giving both ``key`` and ``key+`` in one mapping is refused;
- after merging, ``${city_zh}`` and ``${city_en}`` in any text become the plan's
  ``city.name_zh`` / ``city.name_en`` (``$$`` is a literal ``$``), so a template can name
  "${city_zh}生态环境局" for every city that follows it.

Unknown templates, malformed ``extends`` values and cycles are refused. Every value of the
merged plan remembers the file and line it was written in (:class:`Origin`), so a problem
found when the merged plan is validated names the file that has to change.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "APPEND_SUFFIX",
    "EXTENDS_KEY",
    "PLACEHOLDERS",
    "TEMPLATES_DIRNAME",
    "Origin",
    "TemplateProblem",
    "resolve_extends",
    "template_ids",
]

EXTENDS_KEY = "extends"
APPEND_SUFFIX = "+"
TEMPLATES_DIRNAME = "templates"
"""Templates live in this folder beside the plan files."""
PLACEHOLDERS = ("city_zh", "city_en")
"""The ``${...}`` names a template may use in its text."""

TEMPLATE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

LinePath = tuple[str | int, ...]
Lines = dict[LinePath, int]
Reader = Callable[[Path], tuple[Any, Lines, list[tuple[str, str, str, int | None]]]]
"""Reads a YAML file: its data, the line of each path, and problems as in
:data:`TemplateProblem`."""

TemplateProblem = tuple[str, str, str, int | None]
"""``(file, path, message, line)``."""


@dataclass
class Origin:
    """Where one value of a merged plan was written: file, line, and its parts' origins.

    A value taken whole from one file keeps that file's ``lines`` and its path there
    (``src``) and works out its parts' origins only when asked: most are never asked.
    """

    file: str
    line: int | None
    children: dict[str | int, Origin] = field(default_factory=dict)
    lines: Lines | None = None
    src: LinePath = ()
    expanded: bool = True

    def child(self, key: str | int) -> Origin | None:
        """The origin of one part of the value, if the value has that part."""
        self._expand()
        return self.children.get(key)

    def all_children(self) -> dict[str | int, Origin]:
        """A copy of the origins of every part of the value."""
        self._expand()
        return dict(self.children)

    def _expand(self) -> None:
        if self.expanded or self.lines is None:
            return
        self.expanded = True
        prefix = len(self.src)
        keys = {
            path[prefix] for path in self.lines if len(path) > prefix and path[:prefix] == self.src
        }
        for key in keys:
            if key not in self.children:
                src = (*self.src, key)
                self.children[key] = Origin(
                    self.file, self.lines.get(src), lines=self.lines, src=src, expanded=False
                )

    def at(self, path: LinePath) -> Origin:
        """The origin of ``path``, or of its nearest ancestor that has one."""
        node = self
        for part in path:
            child = node.child(part)
            if child is None:
                break
            node = child
        return node


def _format_path(path: LinePath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _origin_of(lines: Lines, name: str, src: LinePath) -> Origin:
    """The origin of a value written at ``src`` in file ``name`` (parts on demand)."""
    return Origin(name, lines.get(src), lines=lines, src=src, expanded=False)


@dataclass
class _Source:
    """One parsed file of the chain."""

    data: dict[str, Any]
    lines: Lines
    name: str


def _overlay(
    base: dict[str, Any],
    base_origin: Origin,
    over: dict[str, Any],
    source: _Source,
    path: LinePath,
    problems: list[TemplateProblem],
) -> tuple[dict[str, Any], Origin]:
    """``over`` (written at ``path`` of ``source``) merged onto ``base``."""
    out = dict(base)
    origin = Origin(source.name, source.lines.get(path), base_origin.all_children())
    for key, value in over.items():
        here = (*path, key)
        if path == () and key == EXTENDS_KEY:
            continue
        if isinstance(key, str) and key.endswith(APPEND_SUFFIX) and len(key) > 1:
            target = key[: -len(APPEND_SUFFIX)]
            line = source.lines.get(here)
            if target in over:
                problems.append(
                    (
                        source.name,
                        _format_path(here),
                        f"give either {target} (replace) or {key} (append), not both",
                        line,
                    )
                )
                continue
            inherited = out.get(target, [])
            if not isinstance(value, list):
                problems.append(
                    (source.name, _format_path(here), f"{key} appends a list of items", line)
                )
                continue
            if not isinstance(inherited, list):
                problems.append(
                    (
                        source.name,
                        _format_path(here),
                        f"{key} appends to a list, but the inherited {target} is not a list",
                        line,
                    )
                )
                continue
            out[target] = [*inherited, *value]
            kept = base_origin.child(target) or Origin(source.name, line)
            node = Origin(kept.file, kept.line, kept.all_children())
            for offset in range(len(value)):
                node.children[len(inherited) + offset] = _origin_of(
                    source.lines, source.name, (*here, offset)
                )
            origin.children[target] = node
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key], origin.children[key] = _overlay(
                out[key],
                base_origin.child(key) or Origin(source.name, None),
                value,
                source,
                here,
                problems,
            )
        else:
            # A mapping over nothing may still hold ``key+`` entries: normalise them.
            if isinstance(value, dict):
                out[key], origin.children[key] = _overlay(
                    {}, Origin(source.name, None), value, source, here, problems
                )
            else:
                out[key] = value
                origin.children[key] = _origin_of(source.lines, source.name, here)
    return out, origin


def template_ids(templates_dir: Path) -> list[str]:
    """The ids of the templates in a folder (file names without ``.yaml``), sorted."""
    if not templates_dir.is_dir():
        return []
    return sorted(path.stem for path in templates_dir.glob("*.yaml"))


def _chain(
    source: _Source, templates_dir: Path, read: Reader, seen: tuple[str, ...]
) -> tuple[dict[str, Any] | None, Origin, list[TemplateProblem]]:
    """The file merged onto everything it extends (templates' ``key+`` normalised)."""
    parent_id = source.data.get(EXTENDS_KEY)
    line = source.lines.get((EXTENDS_KEY,))
    if parent_id is None and EXTENDS_KEY not in source.data:
        problems: list[TemplateProblem] = []
        data, origin = _overlay({}, Origin(source.name, None), source.data, source, (), problems)
        return (None if problems else data), origin, problems
    if not isinstance(parent_id, str) or not TEMPLATE_ID.match(parent_id):
        message = f"extends names a template id such as 'hebei', got {parent_id!r}"
        return None, Origin(source.name, None), [(source.name, EXTENDS_KEY, message, line)]
    if parent_id in seen:
        cycle = " → ".join([*seen, parent_id])
        message = f"template cycle: {cycle}"
        return None, Origin(source.name, None), [(source.name, EXTENDS_KEY, message, line)]
    path = templates_dir / f"{parent_id}.yaml"
    if not path.is_file():
        known = ", ".join(template_ids(templates_dir)) or "none"
        message = f"unknown template {parent_id!r} (templates in {templates_dir}: {known})"
        return None, Origin(source.name, None), [(source.name, EXTENDS_KEY, message, line)]
    data, lines, read_problems = read(path)
    if read_problems:
        return None, Origin(source.name, None), read_problems
    parent = _Source(data, lines, str(path))
    base, base_origin, problems = _chain(parent, templates_dir, read, (*seen, parent_id))
    if base is None:
        return None, base_origin, problems
    merged, origin = _overlay(base, base_origin, source.data, source, (), problems)
    return (None if problems else merged), origin, problems


def _substitute(
    value: Any,
    names: dict[str, str],
    origin: Origin,
    path: LinePath,
    problems: list[TemplateProblem],
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, names, origin, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, names, origin, (*path, i), problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        try:
            return string.Template(value).substitute(names)
        except (KeyError, ValueError):
            where = origin.at(path)
            allowed = ", ".join(f"${{{name}}}" for name in PLACEHOLDERS)
            message = f"unknown placeholder in {value!r} (use {allowed}, or $$ for a $)"
            problems.append((where.file, _format_path(path), message, where.line))
    return value


def resolve_extends(
    data: dict[str, Any], lines: Lines, name: str, templates_dir: Path, read: Reader
) -> tuple[dict[str, Any] | None, Origin, list[TemplateProblem]]:
    """A plan that ``extends`` a template, merged with its chain: ``(data, origins, [])``,
    or ``(None, ..., problems)`` when a template is unknown, cyclic or cannot be merged."""
    merged, origin, problems = _chain(_Source(data, lines, name), templates_dir, read, ())
    if merged is None:
        return None, origin, problems
    city = merged.get("city")
    names = {
        "city_zh": str(city.get("name_zh", "")) if isinstance(city, dict) else "",
        "city_en": str(city.get("name_en", "")) if isinstance(city, dict) else "",
    }
    substituted = _substitute(merged, names, origin, (), problems)
    return (None if problems else substituted), origin, problems

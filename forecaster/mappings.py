"""Plain mappings (a YAML file, a checkpoint's payload) to and from frozen dataclasses, checked against their type
hints, and the descriptions written under their fields.

``from_mapping`` builds a config dataclass from a mapping: an unknown key or a value of the wrong type is a
``ForecasterError`` naming the key and what is valid; a field typed as a dataclass is a nested section, read
from a nested mapping. A class may keep reading its old keys: its ``RENAMED`` table (old key -> new dotted
path) moves them to where they live now (``upgrade``), and a mapping giving both is an error.
``plain_dict`` is the way back (lists, not tuples); ``plain_values`` the same at any depth, numpy numbers included.
``field_docs`` reads the attribute docstring under each field, the source of the generated configuration
reference.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import datetime
import inspect
import json
import re
import textwrap
import types
import typing
from typing import Any, Literal

from forecaster.errors import ForecasterError


def plain_dict(mapping: dict[str, Any]) -> dict[str, Any]:
    # YAML and torch's weights_only loader both want lists, not tuples.
    return {key: list(value) if isinstance(value, tuple) else value for key, value in mapping.items()}


def plain_values(value: Any) -> Any:
    """``value`` as plain data at any depth: lists for tuples, Python numbers for numpy's (anything else as text), so
    that YAML and ``torch.load(weights_only=True)`` read it back."""
    return json.loads(json.dumps(value, default=lambda item: item.item() if hasattr(item, "item") else str(item)))


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked (and, for numbers and tuples, converted) against the type hint ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [arg for arg in args if arg is not type(None)]
        if len(members) == 1:
            return convert(value, members[0], where)
        for member in members:  # e.g. int | Literal["auto"]: the first type that takes the value
            # A scalar never becomes a one-item tuple here: `str | tuple[str, ...]` keeps "sp500" a str.
            if typing.get_origin(member) is tuple and not isinstance(value, (list, tuple)):
                continue
            try:
                return convert(value, member, where)
            except ForecasterError:
                continue
        described = [
            f"one of: {', '.join(map(str, typing.get_args(m)))}" if typing.get_origin(m) is Literal
            else f"a list of {_type_name(typing.get_args(m)[0])}" if typing.get_origin(m) is tuple
            else _type_name(m)
            for m in members
        ]
        raise ForecasterError(f"{where}={value!r} should be {' or '.join(described)}")
    if dataclasses.is_dataclass(hint):  # a nested section
        try:
            return from_mapping(hint, value, where)
        except ForecasterError as error:  # its own checks name its keys by its field alone (windows.context): give the path
            parent, _, name = where.rpartition(".")
            text = re.sub(rf"(?<![\w.]){name}\.(?=\w)", f"{where}.", str(error)) if parent else str(error)
            raise ForecasterError(text) from None
    if origin is Literal:
        if value not in args:
            raise ForecasterError(f"{where}={value!r} is not valid; choose one of: {', '.join(map(str, args))}")
        return value
    if origin is tuple:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(convert(item, args[0], f"{where}[{i}]") for i, item in enumerate(items))
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and not isinstance(value, bool):
        # YAML 1.1 reads "1e-3" (no dot) as a string: accept any number-like text for float fields.
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if hint is str and isinstance(value, datetime.date):
        return value.isoformat()  # YAML reads an unquoted 2024-03-01 (data.start, data.end) as a date
    raise ForecasterError(f"{where}={value!r} should be of type {_type_name(hint)}")


def from_mapping(cls: type, mapping: Any, where: str) -> Any:
    """Build the frozen dataclass ``cls`` from a mapping; unknown keys and wrong types are errors."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ForecasterError(f"{where} should be a mapping of keys to values, got {mapping!r}")
    mapping = upgrade(cls, mapping, where)
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in mapping if key not in valid]
    if unknown:
        raise ForecasterError(
            f"unknown key {where}.{unknown[0]}; valid keys in {where}: {', '.join(valid) or '(none)'}"
        )
    fields = {field.name: field for field in dataclasses.fields(cls)}
    values = {}
    for key, value in mapping.items():
        default = _default(fields[key]) if dataclasses.is_dataclass(hints[key]) else None
        if dataclasses.is_dataclass(default) and (value is None or isinstance(value, dict)):
            # A nested section's keys left out keep the owner's default section (pretrain.encoder: pretraining's encoder).
            value = _merge(dataclasses.asdict(default), upgrade(hints[key], value or {}, f"{where}.{key}"))
        values[key] = convert(value, hints[key], f"{where}.{key}")
    missing = [name for name, known in fields.items() if name not in values and known.init
               and known.default is dataclasses.MISSING and known.default_factory is dataclasses.MISSING]
    if missing:
        raise ForecasterError(f"{where} needs the key {missing[0]}; its keys: {', '.join(valid)}")
    return cls(**values)


def _default(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def upgrade(cls: type, mapping: Any, where: str) -> Any:
    """``mapping`` (a section of ``cls``) with the old keys of ``cls.RENAMED`` (old key -> new dotted path) moved to
    their new paths; an old key and its new path both given is an error. Anything but a mapping is returned as is."""
    renamed = getattr(cls, "RENAMED", {})
    if not isinstance(mapping, dict) or not renamed.keys() & mapping.keys():
        return mapping
    upgraded = copy.deepcopy({key: value for key, value in mapping.items() if key not in renamed})
    for old, value in mapping.items():
        if old not in renamed:
            continue
        *sections, key = renamed[old].split(".")
        section = upgraded
        for name in sections:
            if section.get(name) is None:
                section[name] = {}
            section = section[name]
            if not isinstance(section, dict):
                raise ForecasterError(f"{where}.{name} should be a mapping of keys to values, got {section!r}")
        if key in section:
            raise ForecasterError(f"{where}.{old} and {where}.{renamed[old]} both set one value; keep {where}.{renamed[old]} "
                                  f"({where}.{old} is its old name)")
        section[key] = value
    return upgraded


def is_key_path(cls: type, keys: list[str]) -> bool:
    """Whether ``keys`` can name a key of the dataclass ``cls``: every key before the last a nested section's field."""
    for key in keys[:-1]:
        hint = typing.get_type_hints(cls).get(key)
        if not dataclasses.is_dataclass(hint):
            return False
        cls = hint
    return bool(keys)


def set_key(cls: type, mapping: Any, keys: list[str], value: Any, where: str) -> dict[str, Any]:
    """The section ``mapping`` of ``cls`` with the key at path ``keys`` set to ``value`` (a ``--set``); an old key of
    ``cls.RENAMED`` sets its new path, and so does the mapping's own old layout (the ``--set`` wins)."""
    change: Any = value
    for key in reversed(keys):
        change = {key: change}
    return _merge(upgrade(cls, mapping if isinstance(mapping, dict) else {}, where), upgrade(cls, change, where))


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in change.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    return merged


def nested_sections(sections: dict[str, type]) -> dict[str, type]:
    """The nested sections (fields typed as a dataclass, at any depth) of the dataclasses ``sections`` (path -> class),
    by dotted path: ``{"pretrain": PretrainConfig}`` gives ``pretrain.windows``, ``pretrain.encoder``, ``pretrain.train``."""
    found = {}
    for where, cls in sections.items():
        hints = typing.get_type_hints(cls)
        nested = {f"{where}.{field.name}": hints[field.name] for field in dataclasses.fields(cls)
                  if dataclasses.is_dataclass(hints[field.name])}
        found.update({**nested, **nested_sections(nested)})
    return found


def field_docs(cls: type) -> dict[str, str]:
    """Each field of the config dataclass ``cls`` and its description, the attribute docstring written under it
    ('' where there is none): the source of the configuration reference on the documentation site."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {
        node.target.id: inspect.cleandoc(after.value.value)
        for node, after in zip(body, body[1:])
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }
    return {field.name: docs.get(field.name, "") for field in dataclasses.fields(cls)}

"""A Python function's signature and docstring → a tool's JSON Schema, and back.

Why from the signature: the model sees only the schema, so it must say exactly
what the function takes; deriving it from the type hints keeps the two from
drifting. Each hint gives a :class:`Field`: the JSON Schema of the value and,
where JSON has no such type (a tuple, an Enum, a dataclass), a converter that
turns the validated JSON value into what the function expects.

Supported hints: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``,
unions and ``Optional``, ``list``/``Sequence``/``set``/``frozenset`` of X,
``tuple[X, Y]`` and ``tuple[X, ...]``, ``dict``/``Mapping`` of ``str`` to X,
``Literal``, ``Enum``, ``TypedDict`` and dataclasses (not recursive), and
``Annotated[X, "description"]`` (a mapping in the metadata is merged into the
schema: ``Annotated[int, {"minimum": 1}]``). Anything else is a ``TypeError``
at registration, naming the function and the parameter.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "field_for", "object_schema", "parse_docstring"]

Convert = Callable[[Any], Any]

_SCALARS: dict[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARRAYS = (list, abc.Sequence, abc.MutableSequence, set, frozenset, abc.Set, abc.MutableSet)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)
_LITERALS = (str, int, float, bool, type(None))
_SUPPORTED = (
    "str, int, float, bool, None, Any, list, tuple, set, dict[str, X], Literal, Enum, "
    "TypedDict, a dataclass or Annotated[X, 'description']"
)


@dataclass(frozen=True, slots=True)
class Field:
    """One value's JSON Schema, and how to turn its JSON into the Python value.

    Attributes:
        schema: the JSON Schema of the value.
        convert: JSON value → Python value; ``None`` when they are the same.
    """

    schema: dict[str, Any]
    convert: Convert | None = None

    def apply(self, value: Any) -> Any:
        """The Python value for the validated JSON ``value``."""
        return value if self.convert is None else self.convert(value)


def field_for(hint: Any, *, _seen: frozenset[type] = frozenset()) -> Field:
    """The :class:`Field` of a type hint.

    Raises:
        TypeError: the hint (or one inside it) has no JSON Schema here; the
            message names the hint, so the caller prefixes where it was.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:  # first: its metadata may be unhashable
        return _annotated(hint, _seen)
    if hint is Any:
        return Field({})
    if hint is None or hint is type(None):
        return Field({"type": "null"})
    if isinstance(hint, type) and hint in _SCALARS:
        return Field({"type": _SCALARS[hint]}, _to_int if hint is int else None)
    if origin is typing.Union or origin is types.UnionType:
        return _union(typing.get_args(hint), _seen)
    if origin is typing.Literal:
        return _enum_field(list(typing.get_args(hint)), None)
    if hint in _ARRAYS or origin in _ARRAYS:
        return _array(hint, origin or hint, _seen)
    if hint is tuple or origin is tuple:
        return _tuple(typing.get_args(hint), _seen)
    if hint in _MAPPINGS or origin in _MAPPINGS:
        return _mapping(typing.get_args(hint), _seen)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_field([member.value for member in hint], hint)
    if isinstance(hint, type) and (typing.is_typeddict(hint) or dataclasses.is_dataclass(hint)):
        if hint in _seen:
            raise TypeError(f"{hint.__name__} refers to itself (recursive types are not supported)")
        return _record(hint, _seen | {hint})
    raise TypeError(f"unsupported type hint {_show(hint)} (use {_SUPPORTED})")


def _to_int(value: Any) -> Any:
    # JSON Schema's "integer" admits 2.0; the function was promised an int.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _plain(field: Field) -> bool:
    """Whether the field's JSON value can be passed on as it is (``2.0`` for an int aside)."""
    return field.convert is None or field.convert is _to_int


def _show(hint: Any) -> str:
    return hint.__qualname__ if isinstance(hint, type) else repr(hint)


def _annotated(hint: Any, seen: frozenset[type]) -> Field:
    inner, *metadata = typing.get_args(hint)
    field = field_for(inner, _seen=seen)
    schema = dict(field.schema)
    for extra in metadata:
        if isinstance(extra, str):
            schema["description"] = extra
        elif isinstance(extra, Mapping):
            schema.update(extra)
    return Field(schema, field.convert)


def _union(members: tuple[Any, ...], seen: frozenset[type]) -> Field:
    fields = [field_for(member, _seen=seen) for member in members]
    if all(set(f.schema) == {"type"} and isinstance(f.schema["type"], str) for f in fields):
        schema: dict[str, Any] = {"type": [f.schema["type"] for f in fields]}
    else:
        schema = {"anyOf": [f.schema for f in fields]}
    special = [f for f in fields if not _plain(f)]
    if not special:
        return Field(schema, _to_int if any(f.convert for f in fields) else None)
    if len(fields) != 2 or {"type": "null"} not in [f.schema for f in fields]:
        raise TypeError("a union with an Enum, tuple, set or dataclass may only add None")
    inner = special[0]
    return Field(schema, lambda value: None if value is None else inner.apply(value))


def _enum_field(values: list[Any], cls: type[enum.Enum] | None) -> Field:
    if not values or not all(isinstance(v, _LITERALS) for v in values):
        raise TypeError(f"choices {values!r} must be str, int, float, bool or None")
    schema: dict[str, Any] = {"enum": values}
    kinds = {field_for(type(v)).schema["type"] for v in values}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), "enum": values}
    return Field(schema, cls)


def _array(hint: Any, origin: Any, seen: frozenset[type]) -> Field:
    args = typing.get_args(hint)
    item = field_for(args[0], _seen=seen) if args else Field({})
    schema: dict[str, Any] = {"type": "array"}
    if item.schema:
        schema["items"] = item.schema
    unique = origin in (set, frozenset, abc.Set, abc.MutableSet)
    if unique:
        schema["uniqueItems"] = True
    if _plain(item) and not unique:
        return Field(schema)
    build: Callable[[Any], Any] = frozenset if origin is frozenset else set if unique else list
    return Field(schema, lambda values: build(item.apply(v) for v in values))


def _tuple(args: tuple[Any, ...], seen: frozenset[type]) -> Field:
    if len(args) == 2 and args[1] is Ellipsis:
        item = field_for(args[0], _seen=seen)
        return Field({"type": "array", "items": item.schema}, lambda vs: tuple(map(item.apply, vs)))
    if not args:
        return Field({"type": "array"}, tuple)
    items = [field_for(arg, _seen=seen) for arg in args]
    schema = {
        "type": "array",
        "prefixItems": [f.schema for f in items],
        "items": False,
        "minItems": len(items),
    }
    return Field(schema, lambda vs: tuple(f.apply(v) for f, v in zip(items, vs, strict=True)))


def _mapping(args: tuple[Any, ...], seen: frozenset[type]) -> Field:
    if args and args[0] is not str:
        raise TypeError(f"mapping keys must be str, not {_show(args[0])} (JSON object keys are)")
    value = field_for(args[1], _seen=seen) if args else Field({})
    schema: dict[str, Any] = {"type": "object"}
    if value.schema:
        schema["additionalProperties"] = value.schema
    if _plain(value):
        return Field(schema)
    return Field(schema, lambda obj: {k: value.apply(v) for k, v in obj.items()})


def _record(cls: type, seen: frozenset[type]) -> Field:
    """A TypedDict or dataclass: an object with its fields as properties."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise TypeError(f"cannot resolve the type hints of {cls.__qualname__}: {exc}") from None
    if dataclasses.is_dataclass(cls):
        fields = [f for f in dataclasses.fields(cls) if f.init]
        names = [f.name for f in fields]
        required = [f.name for f in fields if _no_default(f)]
    else:
        names = list(hints)
        required = [name for name in names if name in getattr(cls, "__required_keys__", names)]
    described = parse_docstring(cls.__doc__ or "", section="Attributes")[1]
    props: dict[str, Field] = {}
    for name in names:
        try:
            props[name] = field_for(hints[name], _seen=seen)
        except TypeError as exc:
            raise TypeError(f"{cls.__qualname__}.{name}: {exc}") from None
    schema = object_schema(
        {n: _described(f.schema, described.get(n)) for n, f in props.items()}, required
    )
    if all(_plain(f) for f in props.values()) and not dataclasses.is_dataclass(cls):
        return Field(schema)

    def convert(obj: Mapping[str, Any]) -> Any:
        values = {k: props[k].apply(v) for k, v in obj.items()}
        return cls(**values)

    return Field(schema, convert)


def _no_default(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _described(schema: dict[str, Any], description: str | None) -> dict[str, Any]:
    if description and "description" not in schema:
        return {**schema, "description": description}
    return schema


def object_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An ``object`` schema with exactly these properties (extra keys are invalid)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


#: A Google-style section header: ``Args:``, ``Returns:``… alone on its line.
_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
#: One ``Args:`` entry: ``name (type): text`` or ``name: text``.
_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str, *, section: str = "Args") -> tuple[str, dict[str, str]]:
    """A Google-style docstring's first paragraph, and its ``section`` entries by name.

    Args:
        doc: the docstring (its indentation is cleaned here).
        section: the section whose entries describe the fields: ``Args`` for
            a function (``Arguments`` is accepted too), ``Attributes`` for a class.
    """
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    names = {section, "Arguments"} if section == "Args" else {section}
    entries: dict[str, str] = {}
    inside, indent, current = False, -1, ""
    for line in lines:
        stripped = line.strip()
        depth = len(line) - len(line.lstrip())
        header = _SECTION.match(stripped)
        if header and (not inside or depth < max(indent, 1)):
            inside, indent, current = header.group(1) in names, -1, ""
            continue
        if not inside or not stripped:
            continue
        if indent < 0:
            indent = depth
        entry = _ENTRY.match(stripped) if depth == indent else None
        if entry:
            current = entry.group(1)
            entries[current] = entry.group(2)
        elif depth > indent and current:
            entries[current] = f"{entries[current]} {stripped}".strip()
    return " ".join(summary), entries

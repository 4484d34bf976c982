"""A dataclass is the one declaration of a setting; its CLI flags, ROS parameters and the checks on
config/*.yaml derive from the fields (name, type, default, help).

A field's metadata (written with :func:`setting`) may carry:

- ``help``: the text shown by ``--help`` and in the ROS parameter descriptor;
- ``flag``: the command-line flag when it is not ``--field-name`` (e.g. ``--wrist`` for ``wrists``);
- ``aliases``: more flags for the same option (``-o`` for ``--output``);
- ``cli=False``: not a command-line option (a convention the user must not change per run);
- ``param``: the ROS parameter name when it is not the field name (``axis_mode`` for ``mode``);
- ``ros=False``: not a ROS parameter;
- ``deployment=True``: supplied per deployment (paths, ports): config/*.yaml may leave it out.

Pure: no rclpy. ``dexndm_control.ros_node.declare_settings`` declares the parameters on a node.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any

from dexndm_control.errors import DexndmError


class SettingsError(DexndmError):
    """A configuration file, parameter set or option list does not match its schema."""


def setting(default: Any = MISSING, *, default_factory: Any = MISSING, help: str = "",
            flag: str | None = None, aliases: tuple[str, ...] = (), param: str | None = None,
            cli: bool = True, ros: bool = True, deployment: bool = False) -> Any:
    """``dataclasses.field`` with the metadata this module reads."""
    metadata = {"help": help, "flag": flag, "aliases": aliases, "param": param, "cli": cli,
                "ros": ros, "deployment": deployment}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


@dataclass(frozen=True)
class FieldType:
    """What a field's annotation means for a flag or a parameter."""

    scalar: type  # bool, int, float or str (dict for a mapping)
    sequence: type | None = None  # tuple or list
    length: int | None = None  # fixed length, e.g. tuple[float, float]
    optional: bool = False


@dataclass(frozen=True)
class Setting:
    name: str  # the field
    kind: FieldType
    default: Any  # MISSING when required
    help: str
    flag: str
    aliases: tuple[str, ...]
    param: str
    cli: bool
    ros: bool
    deployment: bool

    @property
    def required(self) -> bool:
        return self.default is MISSING


def _field_type(hint: Any, where: str) -> FieldType:
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"{where}: only 'X | None' unions are supported")
        optional, hint = True, members[0]
        origin = typing.get_origin(hint)
    if hint in (bool, int, float, str):
        return FieldType(hint, optional=optional)
    if dataclasses.is_dataclass(hint):  # a nested configuration: a table, like a mapping
        return FieldType(dict, optional=optional)
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return FieldType(args[0], tuple, optional=optional)
        if origin is tuple and args and all(a == args[0] for a in args):
            return FieldType(args[0], tuple, len(args), optional)
        if origin is list and len(args) == 1:
            return FieldType(args[0], list, optional=optional)
    if hint is dict or origin is dict:
        return FieldType(dict, optional=optional)
    raise TypeError(f"{where}: unsupported setting type {hint!r}")


def settings(cls: type) -> list[Setting]:
    """The settings of a dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    result = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta = f.metadata
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        kind = _field_type(hints[f.name], f"{cls.__name__}.{f.name}")
        if kind.scalar is dict:  # nested tables are not flags or parameters
            cli_ok, ros_ok = False, False
        else:
            cli_ok, ros_ok = meta.get("cli", True), meta.get("ros", True)
        result.append(Setting(
            name=f.name, kind=kind, default=default, help=meta.get("help", ""),
            flag=meta.get("flag") or "--" + f.name.replace("_", "-"),
            aliases=tuple(meta.get("aliases", ())),
            param=meta.get("param") or f.name, cli=cli_ok, ros=ros_ok,
            deployment=meta.get("deployment", False)))
    return result


# --- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, positional: Iterable[str] = (),
                  only: Iterable[str] | None = None, defaults: Mapping[str, Any] | None = None,
                  metavars: Mapping[str, str] | None = None) -> None:
    """Add one option per CLI setting of ``cls`` (or of the ``only`` ones); ``positional``
    fields become arguments, ``defaults`` replace the dataclass's defaults on the command line."""
    positional = set(positional)
    only = None if only is None else set(only)
    defaults, metavars = dict(defaults or {}), dict(metavars or {})
    for s in settings(cls):
        if not s.cli or (only is not None and s.name not in only):
            continue
        default = defaults.get(s.name, s.default)
        required = default is MISSING
        kwargs: dict[str, Any] = {"help": _help_text(s, default)}
        if s.kind.scalar is bool and s.kind.sequence is None:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = s.kind.scalar
            if s.kind.sequence is not None:
                kwargs["nargs"] = s.kind.length or "+"
            if s.name in metavars:
                kwargs["metavar"] = metavars[s.name]
        if s.name in positional:
            if not required:
                kwargs["nargs"] = "?" if s.kind.sequence is None else "*"
                kwargs["default"] = default
            parser.add_argument(s.name, **kwargs)
            continue
        if required:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
        parser.add_argument(*s.aliases, s.flag, dest=s.name, **kwargs)


def _help_text(s: Setting, default: Any) -> str:
    if default is MISSING or default is None or default == () or default == []:
        return s.help
    shown = " ".join(map(str, default)) if isinstance(default, (tuple, list)) else default
    return f"{s.help} (default: {shown})" if s.help else f"default: {shown}"


def argument_values(cls: type, namespace: argparse.Namespace,
                    only: Iterable[str] | None = None) -> dict[str, Any]:
    """The parsed values of ``cls``'s options, in the field types (tuples stay tuples)."""
    only = None if only is None else set(only)
    return {s.name: _coerce(s, getattr(namespace, s.name)) for s in settings(cls)
            if hasattr(namespace, s.name) and (only is None or s.name in only)}


def from_arguments(cls: type, namespace: argparse.Namespace, **values: Any):
    """Build ``cls`` from parsed arguments; ``values`` supply what the command adds itself."""
    parsed = argument_values(cls, namespace)
    return cls(**{**parsed, **values})


def from_mapping(cls: type, values: Mapping[str, Any]):
    """Build ``cls`` from a plain mapping (a YAML file): sequences become the field's container,
    nested dataclasses are built from their sub-mappings, an unknown key is an error."""
    known = {s.name: s for s in settings(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        nested = _dataclass_of(hints[name])
        if isinstance(value, Mapping) and nested is not None:
            kwargs[name] = from_mapping(nested, value)
        else:
            kwargs[name] = _coerce(known[name], value)
    return cls(**kwargs)


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), else None."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _coerce(s: Setting, value: Any) -> Any:
    if s.kind.sequence is None or not isinstance(value, (list, tuple)):
        return value
    return s.kind.sequence(value)


# --- ROS parameters and config files ------------------------------------------------------------


def parameter_settings(*classes: type) -> dict[str, tuple[type, Setting]]:
    """ROS parameter name -> (class, setting) for a node whose parameters ``classes`` declare."""
    result: dict[str, tuple[type, Setting]] = {}
    for cls in classes:
        for s in settings(cls):
            if not s.ros:
                continue
            if s.param in result:
                owner = result[s.param][0].__name__
                raise TypeError(f"parameter {s.param!r} is declared by {owner} and {cls.__name__}")
            if s.required:
                raise TypeError(f"{cls.__name__}.{s.name}: a ROS parameter needs a default")
            result[s.param] = (cls, s)
    return result


def parameter_default(s: Setting) -> Any:
    """A default in the form ROS parameters take (lists, no None)."""
    if s.kind.sequence is not None:
        return list(s.default)
    return s.default


def from_parameters(cls: type, values: Mapping[str, Any], **extra: Any):
    """Build ``cls`` from ROS parameter values keyed by parameter name."""
    kwargs = dict(extra)
    for s in settings(cls):
        if s.ros and s.param in values and s.name not in kwargs:
            value = values[s.param]
            if s.kind.scalar is float and s.kind.sequence is None and isinstance(value, int):
                value = float(value)
            kwargs[s.name] = _coerce(s, value)
    return cls(**kwargs)


def check_parameter_file(path: str, nodes: Mapping[str, Iterable[type]]) -> None:
    """Every node section of a ROS parameter file names exactly its schema's settings: an unknown
    key, a missing one (other than a deployment setting) or a value of the wrong type fails."""
    import yaml

    with open(path, encoding="utf-8") as stream:
        document = yaml.safe_load(stream) or {}
    problems = []
    for node, section in document.items():
        if node not in nodes:
            problems.append(f"unknown node {node!r} (known: {', '.join(sorted(nodes))})")
            continue
        schema = parameter_settings(*nodes[node])
        values = (section or {}).get("ros__parameters", {}) or {}
        unknown = sorted(set(values) - set(schema))
        missing = sorted(name for name, (_, s) in schema.items()
                         if name not in values and not s.deployment)
        if unknown:
            problems.append(f"{node}: unknown parameter(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"{node}: missing parameter(s) {', '.join(missing)}")
        for name, value in values.items():
            if name in schema and not _type_matches(schema[name][1], value):
                problems.append(f"{node}.{name}: {value!r} is not of the declared type "
                                f"(default {parameter_default(schema[name][1])!r})")
    if problems:
        raise SettingsError(f"{path}: " + "; ".join(problems))


def _type_matches(s: Setting, value: Any) -> bool:
    def scalar_ok(v: Any) -> bool:
        if s.kind.scalar is bool:
            return isinstance(v, bool)
        if s.kind.scalar is float:  # ROS rejects an integer for a double parameter
            return isinstance(v, float)
        return isinstance(v, s.kind.scalar) and not isinstance(v, bool)

    if s.kind.sequence is None:
        return scalar_ok(value)
    return isinstance(value, list) and all(scalar_ok(v) for v in value) and \
        (s.kind.length is None or len(value) == s.kind.length)

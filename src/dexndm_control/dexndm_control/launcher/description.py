"""Turn a parsed launch tree into process specs: arguments, conditions, scopes and substitutions."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dexndm_control.launcher.executables import find_package_executable
from dexndm_control.launcher.frontends import Entity, load_launch_file
from dexndm_control.launcher.substitutions import (
    Scope,
    evaluate_condition,
    split_command_line,
    substitute,
)

# Allowed attributes per construct; anything else is rejected, never ignored.
_CONDITIONS = {"if", "unless"}
ATTRIBUTES: dict[str, set[str]] = {
    "launch": {"version"},
    "arg": {"name", "default", "description"},
    "let": {"name", "value"},
    "include": {"file"} | _CONDITIONS,
    "group": {"scoped"} | _CONDITIONS,
    "push_ros_namespace": {"namespace"} | _CONDITIONS,
    "set_env": {"name", "value"} | _CONDITIONS,
    "node": {"pkg", "exec", "name", "namespace", "output", "args", "on_exit", "respawn",
             "respawn_delay"} | _CONDITIONS,
    "executable": {"cmd", "name", "cwd", "output", "on_exit", "respawn", "respawn_delay"}
    | _CONDITIONS,
    "param": {"name", "value", "from"},
    "remap": {"from", "to"},
    "env": {"name", "value"},
}
INCLUDE_ARG = {"name", "value"}  # <arg> inside <include> passes a value
ALIASES = {"push-ros-namespace": "push_ros_namespace", "set-env": "set_env"}
CHILDREN: dict[str, set[str]] = {
    "launch": {"arg", "let", "include", "group", "push_ros_namespace", "set_env", "node",
               "executable"},
    "group": {"arg", "let", "include", "group", "push_ros_namespace", "set_env", "node",
              "executable"},
    "include": {"arg"},
    "node": {"param", "remap", "env"},
    "executable": {"env"},
}
OUTPUTS = {"screen", "log", "both"}


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str | None
    description: str


@dataclass
class ProcessSpec:
    """One process to start: what to run, with which environment, and how to supervise it."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    required: bool = False
    respawn: bool = False
    respawn_delay: float = 0.0
    output: str = "screen"
    origin: str = ""


@dataclass
class _Context:
    variables: dict[str, str]
    namespace: str
    env: dict[str, str]
    file: str
    declared: set[str] = field(default_factory=set)  # shared by all scopes of the main file


def _substitute_in(child: Entity, context, env, text: str) -> str:
    """Substitutions in one attribute of ``child`` (partial-applied per entity)."""
    return substitute(text, _scope(child, context, env))


def declared_arguments(path: str | Path) -> list[LaunchArgument]:
    """The <arg> declarations at the top level of a launch file (for --show-args)."""
    root = load_launch_file(path)
    return [LaunchArgument(c.attrs.get("name", ""), c.attrs.get("default"),
                           c.attrs.get("description", ""))
            for c in root.children if c.tag == "arg"]


def resolve_launch(path: str | Path, arguments: Mapping[str, str] | None = None,
                   environment: Mapping[str, str] | None = None) -> list[ProcessSpec]:
    """Evaluate a launch file with ``name:=value`` arguments into the processes it starts."""
    root = load_launch_file(path)
    env = dict(os.environ if environment is None else environment)
    given = dict(arguments or {})
    context = _Context(variables={}, namespace="", env={}, file=str(path))
    specs: list[ProcessSpec] = []
    _check(root)
    _run_children(root, context, given, env, specs)
    unknown = sorted(set(given) - context.declared)
    if unknown:
        raise root.error(f"unknown launch argument(s) {', '.join(unknown)}; "
                         f"`dexndm launch {path} --show-args` lists the declared ones")
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise root.error(f"two processes are named {', '.join(duplicates)}: give each a "
                         "distinct name attribute")
    return specs


def _check(entity: Entity, parent: str = "") -> None:
    entity.tag = ALIASES.get(entity.tag, entity.tag)
    if entity.tag not in ATTRIBUTES:
        raise entity.error(f"unsupported construct <{entity.tag}>; this launcher supports "
                           f"{', '.join(sorted(ATTRIBUTES))} (docs/launch.md). Use `ros2 launch` "
                           "on a ROS 2 install for the full launch system")
    allowed = INCLUDE_ARG if (parent, entity.tag) == ("include", "arg") else ATTRIBUTES[entity.tag]
    extra = sorted(set(entity.attrs) - allowed)
    if extra:
        raise entity.error(f"unsupported attribute(s) {', '.join(extra)} on <{entity.tag}>; "
                           f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    allowed_children = CHILDREN.get(entity.tag, set())
    for child in entity.children:
        child.tag = ALIASES.get(child.tag, child.tag)
        if child.tag in ATTRIBUTES and child.tag not in allowed_children:
            raise child.error(f"<{child.tag}> is not allowed inside <{entity.tag}>")
        _check(child, entity.tag)


def _scope(entity: Entity, context: _Context, env: Mapping[str, str]) -> Scope:
    return Scope(context.variables, {**env, **context.env}, entity.file, entity.line)


def _required(entity: Entity, attribute: str) -> str:
    if attribute not in entity.attrs:
        raise entity.error(f"<{entity.tag}> needs the attribute '{attribute}'")
    return entity.attrs[attribute]


def _enabled(entity: Entity, context: _Context, env: Mapping[str, str]) -> bool:
    scope = _scope(entity, context, env)
    if "if" in entity.attrs and not evaluate_condition(entity.attrs["if"], scope, "if"):
        return False
    return not ("unless" in entity.attrs
                and evaluate_condition(entity.attrs["unless"], scope, "unless"))


def _run_children(parent: Entity, context: _Context, given: Mapping[str, str],
                  env: Mapping[str, str], specs: list[ProcessSpec]) -> None:
    for child in parent.children:
        if not _enabled(child, context, env):
            continue
        sub = functools.partial(_substitute_in, child, context, env)
        tag = child.tag
        if tag == "arg":
            name = _required(child, "name")
            context.declared.add(name)
            if name in given:
                context.variables[name] = given[name]
            elif name in context.variables:
                pass  # set by an including file or an outer scope
            elif "default" in child.attrs:
                context.variables[name] = sub(child.attrs["default"])
            else:
                raise child.error(f"launch argument '{name}' has no default: pass {name}:=VALUE")
        elif tag == "let":
            context.variables[_required(child, "name")] = sub(_required(child, "value"))
        elif tag == "set_env":
            context.env[_required(child, "name")] = sub(_required(child, "value"))
        elif tag == "push_ros_namespace":
            context.namespace = _join_namespace(context.namespace,
                                                sub(_required(child, "namespace")))
        elif tag == "group":
            scoped = sub(child.attrs.get("scoped", "true")).lower() in ("true", "1")
            inner = _Context(dict(context.variables), context.namespace, dict(context.env),
                             child.file, context.declared) if scoped else context
            _run_children(child, inner, given, env, specs)
        elif tag == "include":
            _include(child, context, env, specs, sub)
        elif tag == "node":
            specs.append(_node(child, context, env, sub))
        elif tag == "executable":
            specs.append(_executable(child, context, env, sub))


def _include(entity: Entity, context: _Context, env: Mapping[str, str],
             specs: list[ProcessSpec], sub) -> None:
    file = sub(_required(entity, "file"))
    if not os.path.isabs(file):
        file = os.path.join(os.path.dirname(os.path.abspath(entity.file)), file)
    variables = dict(context.variables)
    for arg in entity.children:
        variables[_required(arg, "name")] = sub(_required(arg, "value"))
    root = load_launch_file(file)
    _check(root)
    inner = _Context(variables, context.namespace, dict(context.env), file)
    _run_children(root, inner, {}, env, specs)


def _join_namespace(outer: str, inner: str) -> str:
    if inner.startswith("/"):
        return inner.rstrip("/") or "/"
    joined = "/".join(part for part in (outer.strip("/"), inner.strip("/")) if part)
    return "/" + joined if joined else ""


def _supervision(entity: Entity, sub) -> dict:
    on_exit = sub(entity.attrs.get("on_exit", ""))
    if on_exit not in ("", "shutdown"):
        raise entity.error(f"on_exit=\"{on_exit}\" is not supported; use on_exit=\"shutdown\" "
                           "(the ROS 2 form of required=\"true\")")
    output = sub(entity.attrs.get("output", "screen"))
    if output not in OUTPUTS:
        raise entity.error(f"output=\"{output}\" must be one of {', '.join(sorted(OUTPUTS))}")
    try:
        delay = float(sub(entity.attrs.get("respawn_delay", "0")))
    except ValueError:
        raise entity.error("respawn_delay must be a number of seconds") from None
    return {"required": on_exit == "shutdown",
            "respawn": sub(entity.attrs.get("respawn", "false")).lower() in ("true", "1"),
            "respawn_delay": delay, "output": output, "origin": f"{entity.file}:{entity.line}"}


def _node(entity: Entity, context: _Context, env: Mapping[str, str], sub) -> ProcessSpec:
    package = sub(_required(entity, "pkg"))
    executable = sub(_required(entity, "exec"))
    argv = [*find_package_executable(package, executable, entity)]
    argv += split_command_line(entity.attrs.get("args", ""), _scope(entity, context, env))
    ros_args: list[str] = []
    name = sub(entity.attrs["name"]) if "name" in entity.attrs else None
    if name:
        ros_args += ["-r", f"__node:={name}"]
    namespace = _join_namespace(context.namespace, sub(entity.attrs.get("namespace", "")))
    if namespace:
        ros_args += ["-r", f"__ns:={namespace}"]
    node_env: dict[str, str] = dict(context.env)
    for child in entity.children:
        if child.tag == "param":
            if "from" in child.attrs:
                params_file = sub(child.attrs["from"])
                if not os.path.isfile(params_file):
                    raise child.error(f"parameter file '{params_file}' does not exist")
                ros_args += ["--params-file", params_file]
            else:
                value = sub(_required(child, 'value'))
                # rcl parses -p values as YAML; an empty value must be an explicit ''
                ros_args += ["-p", f"{sub(_required(child, 'name'))}:={value or repr('')}"]
        elif child.tag == "remap":
            ros_args += ["-r", f"{sub(_required(child, 'from'))}:={sub(_required(child, 'to'))}"]
        elif child.tag == "env":
            node_env[_required(child, "name")] = sub(_required(child, "value"))
    if ros_args:
        argv += ["--ros-args", *ros_args]
    label = (namespace.strip("/") + "/" if namespace else "") + (name or executable)
    return ProcessSpec(name=label, argv=argv, env=node_env, **_supervision(entity, sub))


def _executable(entity: Entity, context: _Context, env: Mapping[str, str], sub) -> ProcessSpec:
    argv = split_command_line(_required(entity, "cmd"), _scope(entity, context, env))
    if not argv:
        raise entity.error("<executable> has an empty cmd")
    env = dict(context.env)
    for child in entity.children:
        env[_required(child, "name")] = sub(_required(child, "value"))
    cwd = sub(entity.attrs["cwd"]) if "cwd" in entity.attrs else None
    name = sub(entity.attrs.get("name", os.path.basename(argv[0])))
    return ProcessSpec(name=name, argv=argv, env=env, cwd=cwd, **_supervision(entity, sub))

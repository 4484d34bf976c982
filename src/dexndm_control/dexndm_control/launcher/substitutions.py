"""Evaluate ROS 2 launch substitutions: ``$(var x)``, ``$(env NAME [default])``, ``$(dirname)``,
``$(filename)``, ``$(equals A B)``, ``$(not-equals A B)``, nested in any argument; split a
node's ``args`` / an executable's ``cmd`` into arguments the way launch does."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dexndm_control.errors import LaunchFileError

SUPPORTED = ("var", "env", "dirname", "filename", "equals", "not-equals")


@dataclass(frozen=True)
class Scope:
    """What substitutions can see: launch configurations, environment and the current file."""

    variables: Mapping[str, str]
    environment: Mapping[str, str]
    file: str
    line: int | None = None

    def error(self, message: str) -> LaunchFileError:
        return LaunchFileError(self.file, self.line, message)


def substitute(text: str, scope: Scope) -> str:
    """Return ``text`` with every substitution evaluated."""
    return "".join(value for _, value in _segments(text, scope))


def split_command_line(text: str, scope: Scope) -> list[str]:
    """Split ``args``/``cmd`` into arguments as launch's ``ExecuteProcess._parse_cmdline`` does.

    Only the literal text between substitutions is split (shell-like, quotes honoured); the
    value of a substitution is never split, and joins the literal text it touches: with axis
    ``[0.0, 0.0, 1.0]``, ``--axis=$(var axis) -v`` gives ``['--axis=[0.0, 0.0, 1.0]', '-v']``.
    A substitution that evaluates to nothing still gives an (empty) argument, as in launch.
    """
    arguments: list[str] = []
    current: list[str] | None = None  # the argument being built; None: none started

    def finish() -> None:
        nonlocal current
        if current is not None:
            arguments.append("".join(current))
        current = None

    for literal, value in _segments(text, scope):
        if not literal:
            current = (current or []) + [value]
            continue
        try:
            tokens = shlex.split(value)
        except ValueError as error:
            raise scope.error(f"cannot split '{text}' into arguments ({error}): a quote in the "
                              "text around a substitution must close before it; the value of a "
                              "substitution is one argument without quotes") from None
        if value[0].isspace():
            finish()
        for index, token in enumerate(tokens):
            if index:
                finish()
            current = (current or []) + [token]
        if value[-1].isspace():
            finish()
    finish()
    return arguments


def _segments(text: str, scope: Scope) -> list[tuple[bool, str]]:
    """``text`` as (is literal, text or evaluated value) pieces, in order."""
    pieces: list[tuple[bool, str]] = []
    literal: list[str] = []
    pos = 0
    while pos < len(text):
        if text.startswith("$(", pos):
            if literal:
                pieces.append((True, "".join(literal)))
                literal = []
            value, pos = _substitution(text, pos + 2, scope)
            pieces.append((False, value))
        else:
            literal.append(text[pos])
            pos += 1
    if literal:
        pieces.append((True, "".join(literal)))
    return pieces


def _substitution(text: str, pos: int, scope: Scope) -> tuple[str, int]:
    """Parse ``name arg...)`` starting after '$(' and evaluate it."""
    args: list[str] = []
    current: list[str] = []
    has_token = False
    while True:
        if pos >= len(text):
            raise scope.error(f"unterminated substitution in '{text}': a '$(' has no ')'")
        char = text[pos]
        if char == ")":
            pos += 1
            break
        if char.isspace():
            if has_token:
                args.append("".join(current))
                current, has_token = [], False
            pos += 1
        elif char in "'\"":
            end = text.find(char, pos + 1)
            if end < 0:
                raise scope.error(f"unterminated quote in substitution '{text}'")
            inner = substitute(text[pos + 1:end], scope)
            current.append(inner)
            has_token = True
            pos = end + 1
        elif text.startswith("$(", pos):
            value, pos = _substitution(text, pos + 2, scope)
            current.append(value)
            has_token = True
        else:
            current.append(char)
            has_token = True
            pos += 1
    if has_token:
        args.append("".join(current))
    if not args:
        raise scope.error("empty substitution '$()'")
    name, rest = args[0], args[1:]
    handler = _HANDLERS.get(name)
    if handler is None:
        raise scope.error(f"unsupported substitution '$({name} ...)'; this launcher supports "
                          f"{', '.join('$(' + s + ')' for s in SUPPORTED)} (docs/launch.md)")
    return handler(rest, scope), pos


def _var(args: list[str], scope: Scope) -> str:
    _arity("var", args, 1, 1, scope)
    if args[0] not in scope.variables:
        raise scope.error(f"$(var {args[0]}) is not defined: declare it with <arg name="
                          f"\"{args[0]}\" .../> or pass {args[0]}:=VALUE")
    return scope.variables[args[0]]


def _env(args: list[str], scope: Scope) -> str:
    _arity("env", args, 1, 2, scope)
    if args[0] in scope.environment:
        return scope.environment[args[0]]
    if len(args) == 2:
        return args[1]
    raise scope.error(f"environment variable {args[0]} is not set and $(env) gives no default")


def _dirname(args: list[str], scope: Scope) -> str:
    _arity("dirname", args, 0, 0, scope)
    return os.path.dirname(os.path.abspath(scope.file))


def _filename(args: list[str], scope: Scope) -> str:
    _arity("filename", args, 0, 0, scope)
    return os.path.abspath(scope.file)


def _equals(args: list[str], scope: Scope) -> str:
    _arity("equals", args, 2, 2, scope)
    return "true" if _normal(args[0]) == _normal(args[1]) else "false"


def _not_equals(args: list[str], scope: Scope) -> str:
    _arity("not-equals", args, 2, 2, scope)
    return "false" if _normal(args[0]) == _normal(args[1]) else "true"


def _normal(value: str) -> str:
    # launch compares booleans and numbers by value: 'True' == 'true', '1.0' == '1'
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered
    try:
        return repr(float(lowered))
    except ValueError:
        return value


def _arity(name: str, args: list[str], low: int, high: int, scope: Scope) -> None:
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise scope.error(f"$({name}) takes {expected} argument(s), got {len(args)}: {args}")


_HANDLERS: dict[str, Callable[[list[str], Scope], str]] = {
    "var": _var, "env": _env, "dirname": _dirname, "filename": _filename,
    "equals": _equals, "not-equals": _not_equals,
}


def evaluate_condition(value: str, scope: Scope, attribute: str) -> bool:
    """Evaluate an ``if``/``unless`` attribute value the way launch does."""
    result = substitute(value, scope).strip().lower()
    if result in ("true", "1"):
        return True
    if result in ("false", "0"):
        return False
    raise scope.error(f"{attribute}=\"{value}\" evaluated to '{result}', expected true/false/1/0")

"""Read ROS 2 launch files (XML or YAML frontend) into one tree of ``Entity`` with line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import yaml

from dexndm_control.errors import LaunchFileError


@dataclass
class Entity:
    """One launch construct: tag, string attributes, children, and where it was written."""

    tag: str
    attrs: dict[str, str]
    children: list[Entity] = field(default_factory=list)
    file: str = ""
    line: int | None = None

    def error(self, message: str) -> LaunchFileError:
        return LaunchFileError(self.file, self.line, message)


def load_launch_file(path: str | Path) -> Entity:
    """Parse ``path`` by its suffix (.xml or .yaml/.yml) and return the <launch> root."""
    path = Path(path)
    if not path.is_file():
        raise LaunchFileError(str(path), None, "no such launch file (paths are relative to the "
                                               "current directory; the project's are in launch/)")
    if path.suffix == ".xml":
        return _load_xml(path)
    if path.suffix in (".yaml", ".yml"):
        return _load_yaml(path)
    raise LaunchFileError(str(path), None, f"unsupported launch file type '{path.suffix}': "
                                           "use the XML (.xml) or YAML (.yaml) frontend; Python "
                                           "launch files need a ROS 2 install (`ros2 launch`)")


# --- XML -------------------------------------------------------------------------------------

def _load_xml(path: Path) -> Entity:
    stack: list[Entity] = []
    roots: list[Entity] = []
    parser = expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        entity = Entity(tag=tag, attrs=dict(attrs), file=str(path),
                        line=parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(entity)
        stack.append(entity)

    def end(_tag: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(path.read_bytes(), True)
    except expat.ExpatError as error:
        raise LaunchFileError(str(path), error.lineno,
                              f"malformed XML: {expat.ErrorString(error.code)}") from None
    entity = roots[0]
    if entity.tag != "launch":
        raise entity.error(f"the root element must be <launch>, not <{entity.tag}>")
    return entity


# --- YAML ------------------------------------------------------------------------------------

def _load_yaml(path: Path) -> Entity:
    try:
        node = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise LaunchFileError(str(path), mark.line + 1 if mark else None,
                              f"malformed YAML: {error}") from None
    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1 \
            or node.value[0][0].value != "launch":
        raise LaunchFileError(str(path), _line(node), "a YAML launch file is one mapping with the "
                                                      "single key 'launch' holding a list")
    key, body = node.value[0]
    root = Entity("launch", {}, file=str(path), line=_line(key))
    root.children = _yaml_children(path, body, "launch")
    return root


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _yaml_children(path: Path, node: yaml.Node, parent: str) -> list[Entity]:
    if not isinstance(node, yaml.SequenceNode):
        raise LaunchFileError(str(path), _line(node), f"'{parent}' must hold a list of entities")
    children = []
    for item in node.value:
        if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
            raise LaunchFileError(str(path), _line(item),
                                  "each list item must be a mapping with one key naming the entity "
                                  "(node, arg, include, group, ...)")
        key, body = item.value[0]
        children.append(_yaml_entity(path, key.value, body, _line(key)))
    return children


def _yaml_entity(path: Path, tag: str, body: yaml.Node, line: int | None) -> Entity:
    entity = Entity(tag, {}, file=str(path), line=line)
    if not isinstance(body, yaml.MappingNode):
        raise entity.error(f"'{tag}' must be a mapping of attributes")
    for key_node, value_node in body.value:
        key = key_node.value
        if isinstance(value_node, yaml.ScalarNode):
            entity.attrs[key] = value_node.value
        elif isinstance(value_node, yaml.SequenceNode):
            if key == "children":
                entity.children.extend(_yaml_children(path, value_node, tag))
                continue
            if key == "value":  # a list-valued parameter: keep it as YAML flow text
                entity.attrs[key] = yaml.safe_dump(
                    yaml.safe_load(yaml.serialize(value_node)), default_flow_style=True).strip()
                continue
            # Nested lists (param, remap, env, arg) become child entities named by the key.
            for item in value_node.value:
                if not isinstance(item, yaml.MappingNode):
                    raise LaunchFileError(str(path), _line(item),
                                          f"items of '{key}' in '{tag}' must be mappings")
                entity.children.append(_yaml_entity(path, key, item, _line(item)))
        else:
            raise LaunchFileError(str(path), _line(value_node),
                                  f"attribute '{key}' of '{tag}' must be a scalar or a list")
    return entity

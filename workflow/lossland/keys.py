"""The config keys as Markdown, generated from the schema (workflow/schemas/config.schema.yaml), which holds every
default and every key's description: `python -m lossland.keys > docs/config.md`. tests/test_docs.py fails where
docs/config.md and the schema have drifted apart, or where a key has no description."""

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
EXPANDED = {"train.defaults"}  # objects whose keys come from a $defs entry and are listed one by one
HEADER = """# Config keys

Every key the workflow reads, with its default and what it does: the schema's own words
(`workflow/schemas/config.schema.yaml`), from which `python -m lossland.keys > docs/config.md` writes this page.
A default of — means the schema has none: config.yaml sets the key. `--configfile` files override config.yaml key by
key, and `--config key=value` one key.
"""


def resolved(node: dict, defs: dict) -> dict:
    """`node` with the $defs entry it refers to (`$ref`, or `allOf: [{$ref}]`) merged under its own keys."""
    refs = [node.get("$ref")] + [part.get("$ref") for part in node.get("allOf", [])]
    merged = {}
    for ref in filter(None, refs):
        merged.update(resolved(defs[ref.rsplit("/", 1)[1]], defs))
    return {**merged, **{k: v for k, v in node.items() if k not in ("$ref", "allOf")}}


def leaves(node: dict, defs: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted key, its resolved schema) of every key a user sets, objects with their own keys walked into."""
    properties = (resolved(node, defs) if path in EXPANDED else node).get("properties")
    if properties and (path in EXPANDED or "$ref" not in node and "allOf" not in node):
        for key, child in properties.items():
            yield from leaves(child, defs, f"{path}.{key}" if path else key)
    else:
        yield path, resolved(node, defs)


def shown(value) -> str:
    return (value or '""') if isinstance(value, str) else json.dumps(value)


def allowed(node: dict) -> str:
    """The values a key takes, where the schema lists them."""
    if "enum" in node:
        return "one of " + ", ".join(f"`{shown(v)}`" for v in node["enum"])
    for alternatives in (node.get("oneOf"), node.get("anyOf")):
        consts = [part["const"] for part in alternatives or [] if "const" in part]
        if consts:
            return "or " + ", ".join(f"`{shown(v)}`" for v in consts)
    return ""


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def row(key: str, leaf: dict) -> str:
    default = f"`{shown(leaf['default'])}`" if "default" in leaf else "—"
    what = "; ".join(filter(None, [leaf.get("description", ""), allowed(leaf)]))
    return f"| `{key}` | {cell(default)} | {cell(what)} |"


TABLE = ["| key | default | what it does |", "|---|---|---|"]


def sections(schema: dict) -> list[tuple[str, dict, list[tuple[str, dict]]]]:
    """(top-level key, its schema, its keys): the top-level keys that are objects of keys of their own."""
    return [(name, node, keys) for name, node in schema["properties"].items()
            for keys in [list(leaves(node, schema["$defs"], name))] if keys != [(name, resolved(node, schema["$defs"]))]]


def markdown(schema: dict) -> str:
    """The page: the top-level keys that hold a value, then a table per top-level key that holds keys."""
    grouped = {name for name, _, _ in sections(schema)}
    lines = [HEADER, "## Top level", "", *TABLE]
    lines += [row(name, resolved(node, schema["$defs"])) for name, node in schema["properties"].items()
              if name not in grouped]
    for name, node, keys in sections(schema):
        lines += ["", f"## `{name}`", "", cell(node.get("description", "")), "", *TABLE, *(row(k, v) for k, v in keys)]
    return "\n".join(lines) + "\n"


def undescribed(schema: dict) -> list[str]:
    """Keys (and groups of keys) without a description: the page would leave a reader guessing."""
    keys = [key for _, _, group in sections(schema) for key, leaf in group if not leaf.get("description")]
    grouped = {name for name, _, _ in sections(schema)}
    return keys + [name for name, node in schema["properties"].items()
                   if not resolved(node, schema["$defs"]).get("description") and name not in grouped] + \
        [name for name, node, _ in sections(schema) if not node.get("description")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lossland.keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", type=Path, metavar="PAGE", help="exit 1 where PAGE differs from what is generated")
    args = parser.parse_args(argv)
    schema = yaml.safe_load(SCHEMA.read_text())
    missing = undescribed(schema)
    if missing:
        print(f"keys without a description in {SCHEMA.name}: {', '.join(missing)}: describe them", file=sys.stderr)
        return 1
    page = markdown(schema)
    if args.check is None:
        sys.stdout.write(page)
    elif not args.check.is_file() or args.check.read_text() != page:
        print(f"{args.check} differs from the schema's keys: python -m lossland.keys > {args.check}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

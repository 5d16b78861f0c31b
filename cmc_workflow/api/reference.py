"""The API reference in Markdown, generated from the OpenAPI document
(``cmc-workflow serve --openapi-markdown > docs/api-reference.md``); a test checks that
the committed page equals what this module generates, so it cannot drift from the code.

The page lists the operations by tag (method, path, ``operationId``, what it does, its
parameters, request body and answers), then every schema with its fields. Everything is
sorted, so the output is byte-for-byte stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmc_workflow.i18n import tr

__all__ = ["markdown"]

_METHODS = ("get", "post", "put", "patch", "delete")


def markdown(document: Mapping[str, Any]) -> str:
    """The reference page of ``document`` (an OpenAPI 3.1 document as FastAPI makes it)."""
    info = document.get("info", {})
    title = tr("HTTP API reference")
    lines = [
        f"# {title.en} ({title.zh})",
        "",
        "*Reference, generated.* Do not edit: this page is made from the OpenAPI document by "
        "`cmc-workflow serve --openapi-markdown > docs/api-reference.md`, and a test "
        "checks that it matches the code. The guide is [api.md](api.md); webhooks are in "
        "[webhooks.md](webhooks.md); hosts in Java and PHP in "
        "[how-to-host-java-php.md](how-to-host-java-php.md).",
        "",
        f"API version {info.get('version', '?')} · {info.get('summary', '')}".rstrip(" ·"),
        "",
        _text(info.get("description", "")),
        "",
        "Every operation may also answer a problem document (`application/problem+json`, "
        "schema `ProblemOut`): 401/403 for tokens and refusals, 404, 409/412 for "
        "conflicts, 413, 422 for bad input, 429, 503.",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {}
    for path, item in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            if method in item:
                operation = item[method]
                tag = (operation.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method, path, operation))
    lines += ["## Operations", ""]
    for tag in sorted(by_tag):
        lines += [f"### {tag}", ""]
        for method, path, operation in by_tag[tag]:
            lines += _operation(method, path, operation)
    lines += ["## Schemas", ""]
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        lines += _schema(name, schema)
    return "\n".join(lines).rstrip() + "\n"


def _operation(method: str, path: str, operation: Mapping[str, Any]) -> list[str]:
    lines = [
        f"#### `{method.upper()} {path}`",
        "",
        f"`operationId`: `{operation.get('operationId', '')}`",
        "",
    ]
    if operation.get("description"):
        lines += [_text(operation["description"]), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | required | type | description |", "|---|---|---|---|---|"]
        for p in parameters:
            lines.append(
                f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                f"{_type(p.get('schema', {}))} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        for media, content in sorted(body.get("content", {}).items()):
            lines.append(f"Request body (`{media}`): {_type(content.get('schema', {}))}")
        lines.append("")
    answers = []
    for status, response in sorted(operation.get("responses", {}).items()):
        if status == "default":
            continue
        kinds = [_type(c["schema"]) for _, c in sorted(response.get("content", {}).items()) if c]
        answers.append(f"{status} {' / '.join(k for k in kinds if k) or '(no body)'}")
    if answers:
        lines += ["Answers: " + "; ".join(answers), ""]
    return lines


def _schema(name: str, schema: Mapping[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_text(schema["description"]), ""]
    properties = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", []))
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for field, spec in properties.items():
            lines.append(
                f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} | "
                f"{_cell(spec.get('description', ''))} |"
            )
        lines.append("")
    if schema.get("additionalProperties") is False:
        lines += ["Unknown fields are refused (422).", ""]
    return lines


def _type(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"object of {_type(extra)}" if isinstance(extra, dict) and extra else "object"
    if kind is None:
        return "any"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _text(text: str) -> str:
    return " ".join(str(text).split()).replace("``", "`")


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|")

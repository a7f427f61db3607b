"""The edits that install a module: `app/modules.py` and the import contracts of pyproject.toml.

Each edit touches only the lists that name the installed modules, and is computed as
text before anything is written.
"""

from __future__ import annotations

import re

from app.scaffold.names import ScaffoldError

# The contracts of pyproject.toml that list every module, and the list each one names them in.
CONTRACT_LISTS: tuple[tuple[str, str, str], ...] = (
    ("Core imports no business module", "forbidden_modules", "app.{}"),
    ("Modules reach each other only through their package root", "modules", "app.{}"),
    ("Modules reach each other only through their package root", "ignore_imports", ""),
    ("Routers never import repositories", "source_modules", "app.{}.router"),
    ("Routers never import repositories", "forbidden_modules", "app.{}.repository"),
    ("Queries never import the write side", "source_modules", "app.{}.queries"),
    ("Queries never import the write side", "forbidden_modules", "app.{}.repository"),
    ("Queries never import the write side", "forbidden_modules", "app.{}.service"),
)
LINE_LENGTH = 100


def _names_line(head: str, names: list[str], *, parens: bool) -> str:
    """`head` + the names, on one line when it fits, else one name a line in parentheses."""
    joined = ", ".join(names)
    line = f"{head}({joined})" if parens else f"{head}{joined}"
    if len(line) <= LINE_LENGTH:
        return line
    return head + "(\n" + "".join(f"    {name},\n" for name in names) + ")"


def wire_modules(source: str, package: str) -> str:
    """`app/modules.py` with `package` imported and appended to `INSTALLED_MODULES`."""
    imports = re.search(r"^from app import (\(([^)]*)\)|(.*))$", source, re.MULTILINE)
    installed = re.search(
        r"^(INSTALLED_MODULES: tuple\[ModuleType, \.\.\.\] = )\(([^)]*)\)", source, re.MULTILINE
    )
    if imports is None or installed is None:
        raise ScaffoldError("app/modules.py has no `from app import ...` or INSTALLED_MODULES")

    def split(text: str) -> list[str]:
        return [item.strip() for item in text.split(",") if item.strip()]

    imported = sorted({*split(imports.group(2) or imports.group(3)), package})
    modules = [*split(installed.group(2)), package]
    source = (
        source[: installed.start()]
        + _names_line(installed.group(1), modules, parens=True)
        + source[installed.end() :]
    )
    return (
        source[: imports.start()]
        + _names_line("from app import ", imported, parens=False)
        + source[imports.end() :]
    )


def _add_to_list(block: str, key: str, items: list[str]) -> str:
    """`block` (one contract of pyproject.toml) with `items` appended to its list `key`."""
    found = re.search(rf"^{key} = \[(.*?)\]$", block, re.MULTILINE | re.DOTALL)
    if found is None:
        raise ScaffoldError(f"pyproject.toml: a contract has no `{key}` list")
    body = found.group(1)
    quoted = [item.strip() for item in body.split(",") if item.strip()]
    quoted += [f'"{item}"' for item in items]
    new_body = ", ".join(quoted)
    if "\n" in body or len(f"{key} = [{new_body}]") > LINE_LENGTH:
        new_body = "\n" + "".join(f"    {item},\n" for item in quoted)
    return block[: found.start(1)] + new_body + block[found.end(1) :]


def wire_contracts(source: str, package: str) -> str:
    """`pyproject.toml` with `package` in the import-linter contracts of every module."""
    # `app.X.** -> app.Y` waivers: the new module may use other modules' package roots.
    independent = re.search(
        r'name = "Modules reach each other only through their package root".*?modules = \[(.*?)\]',
        source,
        re.DOTALL,
    )
    if independent is None:
        raise ScaffoldError("pyproject.toml has no independence contract")
    others = [item.strip().strip('"') for item in independent.group(1).split(",") if item.strip()]
    for contract, key, pattern in CONTRACT_LISTS:
        start = source.find(f'name = "{contract}"')
        if start == -1:
            raise ScaffoldError(f"pyproject.toml has no contract named {contract!r}")
        end = source.find("[[", start)
        end = len(source) if end == -1 else end
        if key == "ignore_imports":
            items = [f"app.{package}.** -> {other}" for other in others]
            items += [f"{other}.** -> app.{package}" for other in others]
        else:
            items = [pattern.format(package)]
        source = source[:start] + _add_to_list(source[start:end], key, items) + source[end:]
    return source

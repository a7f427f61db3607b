"""`python -m app new-module NAME`: a new business module, its tests and its wiring.

The module's files come from the templates next to this file (`string.Template`);
the wiring edits `app/modules.py` and the import-linter contracts of `pyproject.toml`
in place, touching only the lists that name the installed modules.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent / "templates"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# Longer names would push the generated docstrings past the line length.
MAX_NAME_LENGTH = 40

# The contracts of pyproject.toml that list every module, and the list each one names them in.
CONTRACT_LISTS: tuple[tuple[str, str, str], ...] = (
    ("Core imports no business module", "forbidden_modules", "app.{}"),
    ("Modules reach each other only through their package root", "modules", "app.{}"),
    ("Modules reach each other only through their package root", "ignore_imports", ""),
    ("Routers never import repositories", "source_modules", "app.{}.router"),
    ("Routers never import repositories", "forbidden_modules", "app.{}.repository"),
)


class ScaffoldError(ValueError):
    """The module cannot be created; the message says why."""


@dataclass(frozen=True)
class ModuleNames:
    """Every spelling of a module's name the templates use, from its plural package name."""

    package: str

    @property
    def singular(self) -> str:
        name = self.package
        if name.endswith("ies") and len(name) > 3:
            return name[:-3] + "y"
        if name.endswith(("sses", "xes", "zes", "ches", "shes")):
            return name[:-2]
        if name.endswith("s") and not name.endswith("ss"):
            return name[:-1]
        return name

    def substitutions(self) -> dict[str, str]:
        model = "".join(part.capitalize() for part in self.singular.split("_"))
        label = self.singular.replace("_", " ")
        return {
            "package": self.package,
            "singular": self.singular,
            "UPPER": self.singular.upper(),
            "Model": model,
            "Plural": "".join(part.capitalize() for part in self.package.split("_")),
            "path": "/" + self.package.replace("_", "-"),
            "label": label,
            "Label": label.capitalize(),
            "labels": self.package.replace("_", " "),
        }


def check_name(root: Path, name: str) -> ModuleNames:
    """The names of a new module, or `ScaffoldError` when `name` cannot be one."""
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a valid module name: use lowercase letters, digits and "
            "underscores, starting with a letter (e.g. books)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"{name!r} is too long: {MAX_NAME_LENGTH} characters at most")
    names = ModuleNames(name)
    for word in (name, names.singular):
        if keyword.iskeyword(word) or keyword.issoftkeyword(word):
            raise ScaffoldError(f"{name!r} cannot be a module name: {word!r} is a Python keyword")
    if (root / "app" / name).exists() or (root / "app" / f"{name}.py").exists():
        raise ScaffoldError(f"app/{name} already exists")
    if (root / "tests" / "integration" / name).exists():
        raise ScaffoldError(f"tests/integration/{name} already exists")
    return names


def render(template: Path, names: ModuleNames) -> str:
    return Template(template.read_text()).substitute(names.substitutions())


def write_files(root: Path, names: ModuleNames) -> list[Path]:
    """The module's package and its integration tests, rendered from the templates."""
    targets = {
        "module": root / "app" / names.package,
        "tests": root / "tests" / "integration" / names.package,
    }
    written = []
    for kind, folder in targets.items():
        folder.mkdir(parents=True)
        for template in sorted((TEMPLATES / kind).glob("*.py.tmpl")):
            stem = template.name.removesuffix(".py.tmpl")
            filename = f"test_{names.package}.py" if stem == "test_module" else f"{stem}.py"
            (folder / filename).write_text(render(template, names))
            written.append(folder / filename)
    (targets["tests"] / "__init__.py").write_text("")
    return written


def _names_line(head: str, names: list[str], *, parens: bool) -> str:
    """`head` + the names, on one line when it fits, else one name a line in parentheses."""
    joined = ", ".join(names)
    line = f"{head}({joined})" if parens else f"{head}{joined}"
    if len(line) <= 100:
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
    if "\n" in body or len(f"{key} = [{new_body}]") > 100:
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


def tidy(paths: list[Path]) -> bool:
    """Sort imports and `__all__`, and format the generated files with ruff, if installed."""
    if importlib.util.find_spec("ruff") is None:
        return False
    files = [str(path) for path in paths]
    ruff = [sys.executable, "-m", "ruff"]
    sort = ["check", "--quiet", "--fix", "--select", "I,RUF022"]
    subprocess.run([*ruff, *sort, *files], check=False)  # noqa: S603
    subprocess.run([*ruff, "format", "--quiet", *files], check=True)  # noqa: S603
    return True


@dataclass(frozen=True)
class Scaffolded:
    files: list[Path]
    formatted: bool


def new_module(root: Path, name: str) -> Scaffolded:
    """Create `app/<name>/`, its tests, and wire it into `app/modules.py` and the contracts."""
    names = check_name(root, name)
    modules_file, pyproject = root / "app" / "modules.py", root / "pyproject.toml"
    # Compute every edit before writing anything: a wiring failure leaves no half module.
    wired_modules = wire_modules(modules_file.read_text(), name)
    wired_contracts = wire_contracts(pyproject.read_text(), name)
    files = write_files(root, names)
    modules_file.write_text(wired_modules)
    pyproject.write_text(wired_contracts)
    return Scaffolded(files, tidy([*files, modules_file]))


def next_steps(name: str) -> list[str]:
    return [
        f'uv run alembic revision --autogenerate -m "{name}"   # then review the migration',
        "make fmt   # formats the generated migration",
        "uv run alembic upgrade head",
        "make test",
    ]

"""A new module's names: every spelling the templates use, and why a name may be refused."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

import inflection

TEMPLATES = Path(__file__).parent / "templates"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# PostgreSQL cuts identifiers at 63 bytes: the longest name the module's table brings,
# `ix_<name>_user_id_created_at_desc`, must fit whole, or Alembic sees a drift.
MAX_NAME_LENGTH = 36
# The owner column is `user_id`: a module of users would clash with it (auth owns users).
OWNER = "user"


class ScaffoldError(ValueError):
    """The module cannot be created; the message says why."""


@dataclass(frozen=True)
class ModuleNames:
    """Every spelling of a module's name the templates use, from its plural package name."""

    package: str
    singular: str

    @classmethod
    def of(cls, package: str, singular: str | None = None) -> ModuleNames:
        """The names of `package`; its singular is guessed (last word only) unless given."""
        if singular is None:
            *first, last = package.split("_")
            singular = "_".join([*first, inflection.singularize(last)])
        return cls(package, singular)

    @property
    def model(self) -> str:
        return inflection.camelize(self.singular)

    def substitutions(self) -> dict[str, str]:
        label = self.singular.replace("_", " ")
        return {
            "package": self.package,
            "singular": self.singular,
            "UPPER": self.singular.upper(),
            "Model": self.model,
            "Plural": inflection.camelize(self.package),
            "path": "/" + self.package.replace("_", "-"),
            "label": label,
            "Label": label.capitalize(),
            "labels": self.package.replace("_", " "),
        }


def render(template: Path, names: ModuleNames) -> str:
    return Template(template.read_text()).substitute(names.substitutions())


@cache
def names_the_templates_import() -> frozenset[str]:
    """The names the generated files import from elsewhere, which the model's must not be."""
    found: set[str] = set()
    for template in TEMPLATES.rglob("*.tmpl"):
        code = re.sub(r"#.*", "", template.read_text())
        for module, names in re.findall(r"^from (\S+) import (\([^)]*\)|.*)$", code, re.M):
            if "$" not in module:
                found.update(re.findall(r"\w+", names))
    return frozenset(found)


def _check_spelling(name: str, what: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a valid {what}: use lowercase letters, digits and "
            "underscores, starting with a letter (e.g. books)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"{name!r} is too long: {MAX_NAME_LENGTH} characters at most")


def check_name(root: Path, name: str, singular: str | None = None) -> ModuleNames:
    """The names of a new module, or `ScaffoldError` when `name` cannot be one."""
    _check_spelling(name, "module name")
    if singular is not None:
        _check_spelling(singular, "singular name")
    names = ModuleNames.of(name, singular)
    for word in (name, names.singular):
        if keyword.iskeyword(word) or keyword.issoftkeyword(word):
            raise ScaffoldError(f"{name!r} cannot be a module name: {word!r} is a Python keyword")
    if names.singular == OWNER:
        raise ScaffoldError(f"{name!r} cannot be a module name: `{OWNER}_id` is the owner column")
    if names.model in names_the_templates_import():
        raise ScaffoldError(
            f"{name!r} would name its model {names.model}, a name the generated code imports; "
            "choose another name or --singular"
        )
    if (root / "app" / name).exists() or (root / "app" / f"{name}.py").exists():
        raise ScaffoldError(f"app/{name} already exists")
    if (root / "tests" / "integration" / name).exists():
        raise ScaffoldError(f"tests/integration/{name} already exists")
    return names

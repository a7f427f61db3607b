"""Email templates: a typed context, a subject, and text and HTML bodies from Jinja.

A module keeps its templates in its own package (`app/auth/emails/welcome.txt`
and `welcome.html`) and declares one `EmailTemplate` subclass per email; the
HTML extends the shared layout of core as `core/base.html` (and the text
`core/base.txt`). HTML is autoescaped; text and subject are not (they are not
HTML), and the subject is folded to one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class TemplateFolder:
    """A folder of Jinja templates inside a Python package (default: `<package>/emails/`)."""

    package: str
    folder: str = "emails"

    def loader(self) -> BaseLoader:
        return PackageLoader(self.package, self.folder)


CORE_LAYOUTS = TemplateFolder("app.core.mail", "templates")


class EmailTemplate(BaseModel):
    """One email: subclass it, set the class variables, declare the context as fields.

    ```python
    class WelcomeEmail(EmailTemplate):
        templates = TemplateFolder("app.auth")  # app/auth/emails/
        template = "welcome"                     # welcome.txt and welcome.html
        subject = "Welcome, {{ username }}"
        username: str
    ```
    Templates see the fields, `subject` (rendered) and `sender_name`; an
    undefined name is an error, not an empty string.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    templates: ClassVar[TemplateFolder]
    template: ClassVar[str]
    subject: ClassVar[str]


class RenderedParts(NamedTuple):
    subject: str
    text: str
    html: str


class TemplateRenderer:
    """Renders `EmailTemplate`s; keeps one Jinja environment per template folder."""

    def __init__(self) -> None:
        self._environments: dict[TemplateFolder, Environment] = {}
        self._subjects: dict[type[EmailTemplate], Template] = {}

    def _environment(self, folder: TemplateFolder) -> Environment:
        if folder not in self._environments:
            self._environments[folder] = Environment(
                loader=ChoiceLoader(
                    [folder.loader(), PrefixLoader({"core": CORE_LAYOUTS.loader()})]
                ),
                autoescape=select_autoescape(["html"], default_for_string=False),
                undefined=StrictUndefined,
                enable_async=True,
            )
        return self._environments[folder]

    def _subject_template(self, email: EmailTemplate) -> Template:
        kind = type(email)
        if kind not in self._subjects:
            self._subjects[kind] = self._environment(email.templates).from_string(kind.subject)
        return self._subjects[kind]

    async def render(self, email: EmailTemplate, **extra: Any) -> RenderedParts:
        """The subject (one line), the plain text and the escaped HTML of an email."""
        environment = self._environment(email.templates)
        context = {**extra, **dict(email)}
        subject = " ".join((await self._subject_template(email).render_async(context)).split())
        context["subject"] = subject
        text = await environment.get_template(f"{email.template}.txt").render_async(context)
        html = await environment.get_template(f"{email.template}.html").render_async(context)
        return RenderedParts(subject, text, html)

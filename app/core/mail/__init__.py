"""Mail: templated emails rendered in the request and delivered by a queue task.

`EmailTemplate` (one subclass per email), `Mailer` (reached through `MailDep`,
renders and enqueues), `MailService` (the process's renderer and delivery
backend), and the `send_email` task live in the submodules; this package root
exports the leaf types only, so importing it never pulls in the queue.
"""

from app.core.mail.message import OutgoingEmail
from app.core.mail.rendering import EmailTemplate, TemplateFolder

__all__ = ["EmailTemplate", "OutgoingEmail", "TemplateFolder"]

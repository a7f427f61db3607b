"""Mail: templated emails rendered in the request and delivered by a queue task.

`EmailTemplate` (one subclass per email), `Mailer` (reached through `MailDep`: renders
now, enqueues delivery in the caller's transaction), `MailService` (the process's
renderer and delivery backend) and the `send_email` task.
"""

from app.core.mail.mailer import Mailer
from app.core.mail.message import OutgoingEmail
from app.core.mail.rendering import EmailTemplate, TemplateFolder
from app.core.mail.service import MailService

__all__ = ["EmailTemplate", "MailService", "Mailer", "OutgoingEmail", "TemplateFolder"]

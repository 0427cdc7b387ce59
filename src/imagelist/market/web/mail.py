"""Sending mail through SMTP (the settings' host, port, STARTTLS, login)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from .settings import WebSettings, load_secret

__all__ = ["MailSender", "compose"]


def compose(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message with Date and Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


class MailSender:
    """One SMTP connection for a run of ``notify``; ``send`` raises OSError/SMTPException."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailSender:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                password = (
                    load_secret(s.smtp_password_file, min_length=1) if s.smtp_password_file else b""
                )
                smtp.login(s.smtp_user, password.decode())
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return self

    def send(self, message: EmailMessage) -> None:
        assert self._smtp is not None, "use MailSender as a context manager"
        self._smtp.send_message(message)

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

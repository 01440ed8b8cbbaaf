"""Keep passwords out of everything the plugin prints."""

from __future__ import annotations

import re

# The password runs to the last "@" before the host: a password may hold "@", never "/".
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<secret>[^/\s]*)@")
_QUERY = re.compile(r"(?P<head>[?&](?:password|sslpassword)=)(?P<secret>[^&\s'\"]*)", re.I)


def redact(text: str) -> str:
    """Return ``text`` with the password of every URL in it replaced by ``***``.

    Covers ``scheme://user:password@host`` and ``?password=`` / ``?sslpassword=`` settings.
    """
    text = _USERINFO.sub(r"\g<head>:***@", text)
    return _QUERY.sub(r"\g<head>***", text)

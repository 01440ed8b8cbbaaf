"""Every error plugin-kv raises, in one tree.

Catch `KVError` to handle them all. Refusals of bad input also derive from the built-in
`ValueError` or `TypeError`, so code written against those keeps working::

    KVError
    ├── InvalidPluginError     (ValueError)  plugin name breaks the naming rule
    ├── InvalidKeyError        (ValueError)  key is empty, too long or unstorable
    ├── InvalidPrefixError     (ValueError)  prefix is not a string a key could start with
    ├── InvalidTTLError        (ValueError)  ttl is not None or a finite number > 0
    ├── InvalidValueError      (ValueError)  value too large, too deep, NaN/Infinity, bad text
    ├── UnsupportedTypeError   (TypeError)   value holds something that is not JSON
    ├── InvalidURLError        (ValueError)  store URL not understood
    ├── InvalidOptionError     (ValueError)  another argument of KVService.open is not valid
    ├── MissingDependencyError (ImportError) optional extra not installed
    ├── ServiceClosedError                   the service was used after close()
    └── BackendError                         the store failed; the driver error is the __cause__
        └── BackendUnavailableError          the store could not be reached

Refusals are raised before anything is written: the store is exactly as it was.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidPluginError",
    "InvalidPrefixError",
    "InvalidTTLError",
    "InvalidURLError",
    "InvalidValueError",
    "KVError",
    "MissingDependencyError",
    "ServiceClosedError",
    "UnsupportedTypeError",
]


class KVError(Exception):
    """Base of every error raised by plugin-kv."""


class InvalidPluginError(KVError, ValueError):
    """The plugin name breaks the naming rule."""


class InvalidKeyError(KVError, ValueError):
    """The key is empty, too long, not a string, or holds text no backend can store."""


class InvalidPrefixError(KVError, ValueError):
    """The prefix is not a string that a key could start with."""


class InvalidTTLError(KVError, ValueError):
    """The ttl is neither None nor a finite number greater than zero."""


class InvalidValueError(KVError, ValueError):
    """The value is JSON-typed but cannot be stored: too large, too deep, NaN, bad text."""


class UnsupportedTypeError(KVError, TypeError):
    """The value holds an object that is not plain JSON."""


class InvalidURLError(KVError, ValueError):
    """The store URL is not one plugin-kv understands."""


class InvalidOptionError(KVError, ValueError):
    """An argument of `KVService.open` other than the URL is not valid."""


class MissingDependencyError(KVError, ImportError):
    """An optional dependency needed for this store is not installed."""


class ServiceClosedError(KVError):
    """The service was used after it was closed."""


class BackendError(KVError):
    """The store failed to carry out an operation; the driver's error is the ``__cause__``."""


class BackendUnavailableError(BackendError):
    """The store could not be reached or opened."""

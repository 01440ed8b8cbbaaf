"""plugin-kv: a plugin-scoped async key-value store, and pytest fixtures that isolate tests.

```python
from plugin_kv import KVService

async with KVService.open("kv.db") as kv:
    await kv.set("my-plugin", "user:1", {"name": "Ada"}, ttl=3600)
```
"""

from importlib.metadata import version as _version

from ._service import Clock, KVService, WriteObserver
from .errors import (
    BackendError,
    BackendUnavailableError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidPluginError,
    InvalidPrefixError,
    InvalidTTLError,
    InvalidURLError,
    InvalidValueError,
    KVError,
    MissingDependencyError,
    ServiceClosedError,
    UnsupportedTypeError,
)

__version__ = _version("plugin-kv")

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "Clock",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidPluginError",
    "InvalidPrefixError",
    "InvalidTTLError",
    "InvalidURLError",
    "InvalidValueError",
    "KVError",
    "KVService",
    "MissingDependencyError",
    "ServiceClosedError",
    "UnsupportedTypeError",
    "WriteObserver",
    "__version__",
]

"""Files shipped inside the package: the documented example configuration.

``config/boundary-mail.example.toml`` in the source tree is a symbolic link to the file here,
so the README's path and ``boundary-mail example-config`` show the same text.
"""

from __future__ import annotations

from importlib.resources import files


def example_config() -> str:
    """The example configuration of this version, every key documented."""
    return (files(__name__) / "boundary-mail.example.toml").read_text(encoding="utf-8")

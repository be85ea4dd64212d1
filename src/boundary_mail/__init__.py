"""boundary-mail: an email assistant that enforces communication boundaries."""

__version__ = "0.1.0"

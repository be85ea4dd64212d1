"""Which languages clients can be written to in: those with every template a client reads.

English is the top of the templates folder; another language is a folder named by its code
(`templates.language_dirs`). A client's language is its `language`, else the top-level one
(`Config.language_of`). A language missing one of `CLIENT_TEMPLATES` (in our templates and
the user's together) is a config error naming the languages that are complete: a client must
never get half a reply in English. Team mail (reminders, digests, alerts) is written in the
top-level language where it has those templates, else in English.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from boundary_mail.templates import SHIPPED, language_dirs

if TYPE_CHECKING:
    from boundary_mail.config import Config

# What a client reads: each must exist in every language a client is written to.
CLIENT_TEMPLATES = (
    "auto_reply.txt.j2", "auto_reply.html.j2", "first_contact.txt.j2", "contact_note.txt.j2",
    "announce.txt.j2", "signature.txt.j2", "signature.html.j2", "nudge.txt.j2",
)


def _roots(user_dir: Path | None) -> list[Path]:
    return ([user_dir] if user_dir is not None else []) + [SHIPPED]


def missing_templates(language: str, user_dir: Path | None) -> list[str]:
    """The client templates `language` lacks (none for English, the top of the folder, in
    any regional form: en_GB's own folder is optional)."""
    dirs = language_dirs(language)
    if language.replace("-", "_").split("_")[0] == "en":
        return []
    return [name for name in CLIENT_TEMPLATES
            if not any((root / d / name).is_file() for root in _roots(user_dir) for d in dirs)]


def available_languages(user_dir: Path | None) -> list[str]:
    """Every language a client can be written to: English and each complete folder."""
    found = {"en"}
    for root in _roots(user_dir):
        if root.is_dir():
            found |= {p.name for p in root.iterdir()
                      if p.is_dir() and not p.name.startswith((".", "_"))
                      and not missing_templates(p.name, user_dir)}
    return sorted(found)


def language_problems(config: Config) -> list[str]:
    """A config error for each language in use that lacks a client template."""
    problems = []
    if config.language and "locale" in config.model_fields_set and (
        config.locale.replace("-", "_").split("_")[0] != config.language.split("_")[0]
    ):
        problems.append(
            f"locale: {config.locale!r} disagrees with language {config.language!r}; locale is"
            " the old name of language: remove it"
        )
    where = [("language" if config.language else "locale", config.default_language)]
    where += [(f"clients[{i}].language", c.language) for i, c in enumerate(config.clients)
              if c.language]
    for key, language in where:
        missing = missing_templates(language, config.templates_dir)
        if missing:
            problems.append(
                f"{key}: there are no templates in {language!r} (missing"
                f" {', '.join(missing)}); use one of"
                f" {', '.join(available_languages(config.templates_dir))}, or add the"
                f" templates to templates_dir/{language_dirs(language)[-1]}/"
            )
    return problems

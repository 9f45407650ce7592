"""The client's words in the user's language: English, or Korean (``terminal/locale/ko``).

Python's own gettext (the client runs without Django): the language comes from the environment as
for every gettext program (LANGUAGE, LC_ALL, LC_MESSAGES, LANG: ``ko_KR.UTF-8`` is Korean), the
catalogue from ``locale/<lang>/LC_MESSAGES/parley.mo`` beside this file. A message id with no
translation is shown as it is (English).
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

LOCALE = Path(__file__).with_name("locale")
DOMAIN = "parley"


@functools.cache
def catalogue() -> gettext.NullTranslations:
    """The translations for the environment's language (cached; tests clear it to switch)."""
    return gettext.translation(DOMAIN, LOCALE, fallback=True)


def _(message: str) -> str:
    return catalogue().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return catalogue().ngettext(singular, plural, count)

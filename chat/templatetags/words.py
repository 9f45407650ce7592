"""Template filters for what the pages say for codes (``chat.words``): ``{{ ns.role|role }}``."""

from __future__ import annotations

from django import template

from chat import words

register = template.Library()


@register.filter
def role(name: str | None) -> str:
    """A role's name in the reader's language ("owner" -> "소유자")."""
    return words.role(name)

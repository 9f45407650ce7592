"""What the pages say, in the reader's language, for what the server names with codes: error codes,
roles, audit actions and the machine-written parts of audit entries, policy fields, durations.

The server's ``detail`` strings are English, for programs and logs; a page never shows them. The
pages (``chat.views``) and the room page's script (through ``room_strings``' ``codes``) take their
words from here, so that a Korean page says everything in Korean. One place, so a new code gets its
words once.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import AuditEntry, Role
from .protocol import NAME_TAKEN, ErrorCode

INVALID_FILE = "invalid_file"  # the API's code for an upload that is not what it claims (uploads)


def error_codes() -> dict[str, str]:
    """Every error code's words (the room page shows these, never the server's detail)."""
    return {
        ErrorCode.INVALID_JSON: _("The request could not be read."),
        ErrorCode.INVALID_FRAME: _("Part of the request is not valid."),
        ErrorCode.UNKNOWN_TYPE: _("The server does not know this kind of request."),
        ErrorCode.EMPTY_MESSAGE: _("The message is empty."),
        ErrorCode.TOO_LARGE: _("The message is too long."),
        ErrorCode.RATE_LIMITED: _("Too fast: wait a moment, then try again."),
        ErrorCode.INVALID_ROOM: _("That is not a valid room name."),
        ErrorCode.INVALID_NAME: _("That name cannot be used."),
        ErrorCode.FORBIDDEN: _("You may not do this here."),
        ErrorCode.NOT_FOUND: _("It does not exist, or you may not see it."),
        ErrorCode.TOO_LATE: _("It is too late to edit this message."),
        ErrorCode.UNAVAILABLE: _("The server cannot reach its database right now. Try again in a moment."),
        ErrorCode.UNAUTHENTICATED: _("Log in first."),
        ErrorCode.CONFLICT: _("That clashes with what is there already."),
        ErrorCode.MUTED: _("You are muted in this namespace."),
        ErrorCode.INTERNAL: _("Something went wrong on the server."),
        INVALID_FILE: _("The file is not what its name says, or it cannot be read."),
        # Finer reasons (an error's "reason"), looked up before its code.
        NAME_TAKEN: _("That name is now a registered user's: choose another name, or log in."),
    }


def error(code: str) -> str:
    return error_codes().get(code, _("Something went wrong."))


def roles() -> dict[str, str]:
    return {Role.OWNER: _("Owner"), Role.MODERATOR: _("Moderator"), Role.MEMBER: _("Member")}


def role(name: str | None) -> str:
    return roles().get(name or "", name or "")


def audit_actions() -> dict[str, str]:
    A = AuditEntry.Action
    return {
        A.DELETE: _("deleted a message"),
        A.MUTE: _("muted"),
        A.UNMUTE: _("lifted a mute"),
        A.KICK: _("kicked"),
        A.BAN: _("banned"),
        A.UNBAN: _("lifted a ban"),
        A.MEMBER_ADD: _("added a member"),
        A.MEMBER_REMOVE: _("removed a member"),
        A.ROLE: _("changed a role"),
        A.POLICY: _("changed the settings"),
        A.INVITE_CREATE: _("created an invite link"),
        A.INVITE_REVOKE: _("revoked an invite link"),
        A.BOT_CREATE: _("made a bot"),
        A.BOT_DEACTIVATE: _("deactivated a bot"),
        A.HOOK_IN_CREATE: _("made an incoming webhook"),
        A.HOOK_IN_REVOKE: _("revoked an incoming webhook"),
        A.HOOK_OUT_CREATE: _("made an outgoing webhook"),
        A.HOOK_OUT_DELETE: _("deleted an outgoing webhook"),
        A.HOOK_OUT_RESUME: _("resumed an outgoing webhook"),
    }


def policy_fields() -> dict[str, str]:
    """The settings page's labels of the policy's fields."""
    return {
        "visibility": _("Who may see the namespace"),
        "allow_guests": _("Guests (without an account) may chat"),
        "room_creation": _("Who may create rooms"),
        "max_message_chars": _("Longest message (characters)"),
        "rate_per_sec": _("Messages per second per connection"),
        "rate_burst": _("Burst of messages"),
        "edit_window": _("Edit window (seconds, 0: no limit)"),
        "history_on_join": _("Messages shown on joining"),
        "retention_days": _("Days messages are kept (0: forever)"),
    }


_POLICY_PART = re.compile(r"^([a-z_]+)=(.*)$")


def audit_reason(action: str, reason: str) -> tuple[str, str]:
    """An audit entry's reason as the reader should see it: (words, a code shown as code). What
    Parley wrote there itself (the room of a kick or a private room's member, the invite link a
    member joined with, a role, the policy fields that changed, an invite's limits) is said in the
    reader's words; a moderator's own words are shown as they are."""
    if not reason:
        return "", ""
    if action in (AuditEntry.Action.MEMBER_ADD, AuditEntry.Action.ROLE) and reason in roles():
        return role(reason), ""
    if action in (AuditEntry.Action.KICK, AuditEntry.Action.MEMBER_ADD, AuditEntry.Action.MEMBER_REMOVE):
        if reason.startswith("room "):
            return _("room %(room)s") % {"room": reason[5:]}, ""
        if reason.startswith("invite "):
            return _("with an invite link:"), reason[7:]
    parts = [_POLICY_PART.match(part) for part in reason.split(", ")]
    if action in (AuditEntry.Action.POLICY, AuditEntry.Action.INVITE_CREATE) and all(parts):
        labels = {**policy_fields(), "max_uses": _("Uses"), "expires_in": _("Expires in")}
        said = []
        for m in parts:
            assert m is not None
            key, value = m.group(1), _plain(m.group(2))
            if key == "expires_in" and value.isdigit():
                value = duration(int(value))
            said.append(f"{labels.get(key, key)}: {value}")
        return "; ".join(said), ""
    return reason, ""


def _plain(value: str) -> str:
    """A stored number as a person writes it: 600, not 600.0."""
    return value[:-2] if re.fullmatch(r"-?\d+\.0", value) else value


def duration(seconds: int) -> str:
    """A duration in the largest whole unit: "2 days", "1 hour", "90 seconds"."""
    for size, one in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            if one == "day":
                return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
            if one == "hour":
                return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}
            return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}

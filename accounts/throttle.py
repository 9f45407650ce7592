"""Failed logins throttled per username and per client address, each with its own limit.

django-axes records the failures (``AccessAttempt`` rows, one per username, address and browser)
and refuses a locked-out login before the password is tried (``AxesStandaloneBackend``). Axes
compares one number with one limit; Parley has two limits (a username is attacked with few tries,
an address may be a whole class behind one NAT), so ``LoginThrottle.get_failures`` reports how many
of the two limits are reached and ``AXES_FAILURE_LIMIT`` is 1. Settings: ``parley/settings.py``,
"Accounts and login throttling".
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

from core.clientaddr import client_address


class AxesRequest(HttpRequest):
    """A request as axes hands it to its handler: ``AxesProxyHandler.update_request`` has added
    the client's address (None when it cannot tell). For type checking only: never instantiated."""

    axes_ip_address: str | None


def request_address(request: HttpRequest) -> str | None:
    """Called by axes for each login (``AXES_CLIENT_IP_CALLABLE``): the client's address, believing
    ``X-Forwarded-For`` only from ``PARLEY_TRUSTED_PROXIES``; None when the server names no peer
    (then only the per-username limit applies)."""
    address = client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def cooloff(request: HttpRequest | None = None) -> datetime.timedelta:
    """Called by axes (``AXES_COOLOFF_TIME``): how long failures count, ``PARLEY_LOGIN_COOLOFF``."""
    return datetime.timedelta(seconds=settings.PARLEY_LOGIN_COOLOFF)


def _sum(attempts: Any) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LoginThrottle(AxesDatabaseHandler):
    """Axes' database handler with a limit per username and another per address."""

    def get_failures(self, request: AxesRequest, credentials: dict | None = None) -> int:
        """Called by axes before a login and after each failure: how many limits are reached (0-2)."""
        by_username, by_address = self.get_user_attempts(request, credentials)  # AXES_LOCKOUT_PARAMETERS' order
        reached = 0
        per_username = settings.PARLEY_LOGIN_FAILURES_PER_USERNAME
        if per_username and _sum(by_username) >= per_username:
            reached += 1
        per_address = settings.PARLEY_LOGIN_FAILURES_PER_ADDRESS
        if per_address and request.axes_ip_address is not None and _sum(by_address) >= per_address:
            reached += 1
        return reached

    def reset_user_attempts(self, request: AxesRequest, credentials: dict | None = None) -> int:
        """Called by axes after a successful login: forgive that username's failures from this
        address (typos), not the address's failures for other names nor the username's elsewhere."""
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return count

"""``GET /api/v1/search``: messages matching a query among those the caller may read now
(``search.selectors``; docs/search.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from api import schemas
from api.routes.common import answers, caller_of, json, user_of
from chat import reads
from chat.protocol import MAX_ID, ErrorCode, ProtocolError
from search import query, selectors
from search.limits import searches

router = Router()
Q = Query(..., max_length=query.MAX_CHARS)


@router.get("/search", response=answers(schema=schemas.SearchPage, errors=(400, 401, 429, 503)), tags=["search"])
async def search(
    request: HttpRequest,
    q: schemas.SearchQuery = Q,
    ns: str | None = Query(None, max_length=200, description="only this namespace"),
    room: str | None = Query(None, max_length=200, description="only this room (a name, or namespace/room)"),
    before: int | None = Query(None, ge=1, le=MAX_ID, description="a previous page's next_before"),
    limit: int = Query(20, ge=1, le=100, description="at most this many (default 20)"),
) -> HttpResponse:
    """The messages matching `q` that the caller may read now, newest first. An empty query, one of
    operators only or one over 500 characters: 400 `invalid_frame`. Over PARLEY_SEARCH_PER_MINUTE:
    429."""
    user = user_of(request)
    if not searches.take(user.pk):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many searches: slow down", retry_after=searches.wait(user.pk))
    parsed = query.parse(q)
    page = await reads.read(selectors.search, caller_of(user), parsed, ns=ns, room=room, before=before, limit=limit)
    return json(page)

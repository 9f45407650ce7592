"""``manage.py search_corpus``: the search benchmark's corpus (``make bench``'s section S;
docs/search.md). Korean, English and mixed text with code, in ``--rooms`` rooms of ``--namespaces``
members-only namespaces, sent by ``--senders`` users over 90 days; two readers: ``sc-reader-all``
(a member of every namespace) and ``sc-reader-5`` (of 5 % of them). Deterministic (``--seed``).

Messages are inserted in bulk (PostgreSQL's COPY; batched INSERTs on SQLite), without events (search
reads messages only), then indexed by ``search.index.rebuild`` unless ``--no-index``.
"""

from __future__ import annotations

import datetime as dt
import html
import random
import sys
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from chat.models import Membership, Namespace, Room
from search import index
from search.management.commands.search_reindex import Progress

NOUNS = [
    "숙제",
    "서버",
    "과제",
    "수업",
    "질문",
    "시험",
    "설정",
    "에러",
    "배포",
    "코드",
    "모델",
    "화면",
    "로그",
    "파일",
    "폴더",
    "주소",
    "링크",
    "발표",
    "회의",
    "자료",
    "정리",
    "내일",
    "오늘",
    "시간",
    "방법",
    "문제",
    "답변",
    "버전",
    "환경",
    "데이터",
    "테스트",
    "강의",
    "교재",
    "프로젝트",
    "팀원",
    "일정",
    "마감",
    "제출",
    "점수",
    "실습",
    "예제",
    "함수",
    "변수",
    "클래스",
]
COMPOUND = ("웹", "오늘", "기말", "중간", "개발", "운영", "로컬", "원격", "새")
PARTICLES = ("는", "은", "를", "을", "가", "이", "에서", "에", "도", "만", "으로", "까지", "", "", "")
ENDINGS = [
    "했어요",
    "있나요?",
    "됩니다",
    "안",
    "돼요",
    "봤는데요",
    "올렸어요",
    "확인해",
    "주세요",
    "끝났어요",
    "어디에",
    "있나요?",
    "다시",
    "해볼게요",
    "감사합니다",
    "고쳤습니다",
    "모르겠어요",
    "알려주세요",
    "잘",
    "됩니다",
]
ENGLISH = [
    "the",
    "a",
    "to",
    "is",
    "it",
    "and",
    "of",
    "in",
    "for",
    "on",
    "this",
    "that",
    "with",
    "can",
    "we",
    "you",
    "I",
    "please",
    "check",
    "server",
    "deploy",
    "test",
    "database",
    "migration",
    "error",
    "question",
    "homework",
    "class",
    "review",
    "branch",
    "commit",
    "python",
    "django",
    "query",
    "index",
    "page",
    "view",
    "model",
    "form",
    "template",
    "static",
    "file",
    "upload",
    "link",
    "login",
    "user",
    "admin",
    "settings",
    "install",
    "run",
    "works",
    "fixed",
    "broken",
    "today",
    "tomorrow",
    "deadline",
    "slides",
    "lecture",
    "notes",
    "example",
    "function",
    "variable",
    "bug",
    "issue",
    "thanks",
]
WEIGHTS = [
    30 if w in ("the", "a", "to", "is", "it") else 12 if w in ("server", "and", "of", "in") else 3 for w in ENGLISH
]
CODE = (
    "`python manage.py migrate`",
    "`SELECT * FROM users WHERE id = 1;`",
    "`def view(request): return render(request, 'index.html')`",
    "`git push origin main`",
    "`pip install -r requirements.txt`",
    "`docker compose up -d`",
    "`npm run build`",
    "`ALLOWED_HOSTS = ['*']`",
    "`kubectl get pods -n prod`",
)
URLS = ("https://docs.djangoproject.com/en/5.2/", "https://github.com/django/django/pull/123", "https://example.com/x")
SYLLABLES = "ka ze ri mo tu pa le vi no su ga de xo qu ba fi"
RARE = [f"{a}{b}{c}x" for a in SYLLABLES.split() for b in SYLLABLES.split() for c in SYLLABLES.split()[:4]][:1000]


def korean(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(2, 6)):
        noun = rng.choice(NOUNS)
        if rng.random() < 0.15:
            noun = rng.choice(COMPOUND) + noun
        words.append(noun + rng.choice(PARTICLES))
    words.append(rng.choice(ENDINGS))
    return " ".join(words)


def english(rng: random.Random) -> str:
    words = rng.choices(ENGLISH, weights=WEIGHTS, k=rng.randint(5, 12))
    if rng.random() < 0.05:
        words.insert(rng.randint(0, len(words)), "merge request")
    text = " ".join(words)
    return text[0].upper() + text[1:]


def text(rng: random.Random) -> tuple[str, bool]:
    """A message's text, and whether it holds a link."""
    kind = rng.random()
    if kind < 0.45:
        body = korean(rng)
    elif kind < 0.8:
        body = english(rng)
    else:
        body = f"{korean(rng) if rng.random() < 0.5 else english(rng)} {rng.choice(CODE)}"
    link = rng.random() < 0.05
    if link:
        body += " " + rng.choice(URLS)
    if rng.random() < 0.02:
        body += " " + rng.choice(RARE)
    return body, link


def rendered(body: str, link: bool) -> str:
    """Close enough to ``markup.render`` for search (a link is an ``<a href``): the corpus is too big to render."""
    escaped = html.escape(body)
    if link:
        url = body.rsplit(" ", 1)[-1] if "http" in body else ""
        escaped = escaped.replace(html.escape(url), f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
    return f"<p>{escaped}</p>\n"


class Command(BaseCommand):
    help = "Build the search benchmark's corpus (docs/search.md), with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--rooms", type=int, default=2000)
        parser.add_argument("--namespaces", type=int, default=200)
        parser.add_argument("--senders", type=int, default=200)
        parser.add_argument("--seed", type=int, default=17)
        parser.add_argument("--no-index", action="store_true", help="leave the index to search_reindex")

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        out = self.stdout._out if hasattr(self.stdout, "_out") else sys.stdout
        total, room_count, ns_count = options["messages"], options["rooms"], options["namespaces"]
        users = self._people(options["senders"])
        rooms = self._places(ns_count, room_count, users)
        progress = Progress(out, "messages")
        started = time.monotonic()
        seqs = dict.fromkeys(rooms, 0)
        begin = timezone.now() - dt.timedelta(days=90)
        step = dt.timedelta(days=90) / max(total, 1)
        chunk: list[tuple[Any, ...]] = []
        done = 0
        for i in range(total):
            room = rooms[rng.randrange(len(rooms))]
            seqs[room] += 1
            sender_id, sender = users[rng.randrange(len(users))]
            body, link = text(rng)
            chunk.append((room, seqs[room], sender, sender_id, body, rendered(body, link), begin + step * i))
            if len(chunk) == 20_000 or i == total - 1:
                self._insert(chunk)
                done += len(chunk)
                chunk = []
                progress(done, total, last=done == total)
        with transaction.atomic():
            for room, last in seqs.items():
                Room.objects.filter(pk=room).update(last_id=last)
        took = time.monotonic() - started
        self.stdout.write(f"inserted {done:,} messages in {took:.1f} s ({done / max(took, 1e-9):,.0f}/s)")
        if not options["no_index"]:
            indexing = Progress(out, "indexing")
            count = index.rebuild(progress=indexing)
            indexing(count, count, last=True)
            self.stdout.write(f"indexed {count:,} messages at {indexing.rate(count):,.0f}/s")

    def _people(self, senders: int) -> list[tuple[int, str]]:
        """The senders (and the two readers), made if missing: (id, username)."""
        user_model = get_user_model()
        password = make_password(None)
        names = [f"sc-user-{i}" for i in range(senders)] + ["sc-reader-all", "sc-reader-5"]
        have = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
        user_model.objects.bulk_create([user_model(username=n, password=password) for n in names if n not in have])
        found = dict(user_model.objects.filter(username__in=names).values_list("username", "pk"))
        return [(found[n], n) for n in names[:senders]]

    def _places(self, ns_count: int, room_count: int, users: list[tuple[int, str]]) -> list[int]:
        """The namespaces (members only) and their rooms, and the readers' memberships: room ids."""
        user_model = get_user_model()
        readers = dict(user_model.objects.filter(username__startswith="sc-reader-").values_list("username", "pk"))
        names = [f"sc-ns-{i:03}" for i in range(ns_count)]
        for name in names:
            Namespace.objects.get_or_create(name=name, defaults={"visibility": Namespace.Visibility.MEMBERS})
        spaces = dict(Namespace.objects.filter(name__in=names).values_list("name", "pk"))
        few = max(1, ns_count // 20)  # 5 %
        rows = [Membership(namespace_id=spaces[n], user_id=readers["sc-reader-all"]) for n in names]
        rows += [Membership(namespace_id=spaces[n], user_id=readers["sc-reader-5"]) for n in names[:few]]
        Membership.objects.bulk_create(rows, ignore_conflicts=True)
        per_ns = max(1, room_count // ns_count)
        wanted = [(n, f"room-{j}") for n in names for j in range(per_ns)]
        Room.objects.bulk_create(
            [Room(namespace_id=spaces[n], name=r, address=f"{n}/{r}") for n, r in wanted], ignore_conflicts=True
        )
        return list(Room.objects.filter(namespace_id__in=spaces.values()).order_by("pk").values_list("pk", flat=True))

    def _insert(self, chunk: list[tuple[Any, ...]]) -> None:
        columns = (
            "room_id, seq, sender, user_id, body, html, created_at, attachments, mentions, reactions, edited, deleted, "
            "replies"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY chat_message ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row((*row, "[]", "[]", "{}", False, False, 0))
            else:
                cursor.executemany(
                    f"INSERT INTO chat_message ({columns}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, '[]', '[]', '{}', 0, 0, 0)",
                    [(*row[:6], connection.ops.adapt_datetimefield_value(row[6])) for row in chunk],
                )

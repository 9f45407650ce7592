# ruff: noqa: E501  (tracebacks have long lines)
"""Scenario T's and R's texts: what a class running Django actually sends, as Markdown.

Four kinds, in the mix ``--md-mix`` (default 70/15/10/5):

- ``plain``: chat lines in Korean and English, written without Markdown in mind. Most have no
  character Markdown gives a meaning to and take ``markup.render``'s fast path; a few carry one
  anyway (the ``_`` of ``INSTALLED_APPS``, the ``&`` of ``Q&A``, ``__str__``, and, depending on
  how wide markup's fast path is, a final ``!`` or a ``:``) and go through the parser: R reports
  the two apart.
- ``inline``: inline code, bold, emphasis, strikethrough, ``[links](url)``.
- ``code``: a line of prose, then a fenced block of 10 to 40 lines: Python tracebacks (``pytb``,
  ``python`` or no language), Django views, models, settings, a shell session.
- ``link``: bare URLs (documentation, GitHub, ``www.``), which GitHub's autolinks make links.

No text mentions anyone (``@name`` costs a database trip of its own, which is not what T measures)
and none starts with a fence: the load generator puts its tag (sender, number, send time) before
the text on the same line, and a fence must start its line.

``MarkdownPlan`` deals the kinds out exactly in the mix's proportions over every ``SLOTS`` messages
of a sender, each sender starting at another place of the same shuffled schedule, and picks the
text of a kind round-robin: deterministic, so two runs (and two revisions in one run) send the same
texts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

KINDS = ("plain", "inline", "code", "link")
DEFAULT_MIX = "70,15,10,5"
SLOTS = 100  # a sender's schedule repeats every SLOTS messages

PLAIN: tuple[str, ...] = (
    "안녕하세요 오늘 수업 몇 시에 시작하나요?",
    "네 지금 들어왔어요",
    "화면 공유 잘 보입니다",
    "잠깐 소리가 끊겼어요",
    "저도 같은 에러가 나요",
    "혹시 과제 제출은 어디로 하나요?",
    "migrate 다시 하니까 됐어요 감사합니다",
    "가상환경을 새로 만들어야 하나요?",
    "runserver 켜 놓은 상태에서 수정하면 자동으로 반영되나요",
    "템플릿 폴더 위치가 헷갈려요",
    "지금 몇 페이지 보고 계신 건가요",
    "조금만 천천히 해주실 수 있을까요",
    "방금 설명하신 부분 다시 한 번 부탁드려요",
    "settings.py 에 앱 추가하는 걸 빼먹었네요",
    "이제 로그인 페이지 뜹니다",
    "쉬는 시간 10분 맞죠?",
    "저는 맥에서 하고 있어요",
    "윈도우에서는 경로 구분자가 달라서 그런 것 같아요",
    "어제 녹화본은 언제 올라오나요?",
    "오늘 배운 거 정리해서 올릴게요",
    "감사합니다!",
    "오 됐다!",
    "질문 있습니다: 모델을 바꾸면 마이그레이션을 매번 만들어야 하나요?",
    "결과: 테스트 3개 중 2개 통과",
    "good morning everyone",
    "can you share the slides again?",
    "is the deadline still Friday?",
    "I restarted the server and it works now",
    "which Python version are we supposed to use?",
    "my virtualenv was not activated, sorry",
    "does this work with SQLite or do we need Postgres?",
    "I get a 404 on the admin page",
    "the form submits but nothing is saved",
    "I think the URL pattern is missing a slash",
    "could you scroll up a little",
    "same here, the template does not update",
    "thanks, that fixed it",
    "brb in five minutes",
    "nice, it works!",
    "note: the tests need the database running",
    "INSTALLED_APPS 에 polls 앱 추가했어요",
    "Q&A 는 수업 끝나고 할게요",
    "get_queryset 을 오버라이드하면 되나요?",
    "do we need a __str__ method on every model?",
)

INLINE: tuple[str, ...] = (
    "`python manage.py makemigrations` 먼저 하고 `migrate` 하세요",
    "**중요**: 과제 마감은 금요일 자정입니다",
    "`QuerySet`은 *lazy* 해서 실제로 쓸 때 쿼리가 나가요",
    '`request.POST`가 비어 있으면 폼에 `method="post"` 확인해 보세요',
    "~~`urls.py` 문제였어요~~ 아니었네요, **템플릿 이름** 오타였어요",
    "[Django 튜토리얼 3장](https://docs.djangoproject.com/en/5.2/intro/tutorial03/) 읽어 오세요",
    "`get_object_or_404(Question, pk=question_id)` 쓰면 **404**가 알아서 나가요",
    "**주의**: `DEBUG = True` 상태로 배포하면 안 됩니다",
    "use `select_related` for the foreign key, it saves a query per row",
    "the **template name** is `polls/index.html`, not `index.html`",
    "did you add the app to `INSTALLED_APPS`? that is the *usual* suspect",
    "see [the forms docs](https://docs.djangoproject.com/en/5.2/topics/forms/) for `cleaned_data`",
    "`{% csrf_token %}` goes **inside** the `<form>`",
    "run `pip install -r requirements.txt` again, then `python -m pytest`",
    "*ForeignKey* needs `on_delete`: try `models.CASCADE`",
    "**tip**: `python manage.py shell` and then `Question.objects.all()`",
)

_TRACEBACK = """Internal Server Error: /polls/1/vote/
Traceback (most recent call last):
  File "/home/student/venv/lib/python3.11/site-packages/django/core/handlers/exception.py", line 55, in inner
    response = get_response(request)
               ^^^^^^^^^^^^^^^^^^^^^
  File "/home/student/venv/lib/python3.11/site-packages/django/core/handlers/base.py", line 197, in _get_response
    response = wrapped_callback(request, *callback_args, **callback_kwargs)
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/home/student/mysite/polls/views.py", line 41, in vote
    selected_choice = question.choice_set.get(pk=request.POST["choice"])
                                                 ~~~~~~~~~~~~^^^^^^^^^^
  File "/home/student/venv/lib/python3.11/site-packages/django/utils/datastructures.py", line 86, in __getitem__
    raise MultiValueDictKeyError(key)
django.utils.datastructures.MultiValueDictKeyError: 'choice'"""

_TRACEBACK_DB = """Traceback (most recent call last):
  File "/home/student/mysite/manage.py", line 22, in <module>
    main()
  File "/home/student/mysite/manage.py", line 18, in main
    execute_from_command_line(sys.argv)
  File "/home/student/venv/lib/python3.11/site-packages/django/core/management/__init__.py", line 442, in execute_from_command_line
    utility.execute()
  File "/home/student/venv/lib/python3.11/site-packages/django/core/management/__init__.py", line 436, in execute
    self.fetch_command(subcommand).run_from_argv(self.argv)
  File "/home/student/venv/lib/python3.11/site-packages/django/core/management/base.py", line 412, in run_from_argv
    self.execute(*args, **cmd_options)
  File "/home/student/venv/lib/python3.11/site-packages/django/core/management/commands/migrate.py", line 117, in handle
    executor = MigrationExecutor(connection, self.migration_progress_callback)
  File "/home/student/venv/lib/python3.11/site-packages/django/db/migrations/executor.py", line 18, in __init__
    self.loader = MigrationLoader(self.connection)
  File "/home/student/venv/lib/python3.11/site-packages/django/db/migrations/loader.py", line 58, in __init__
    self.build_graph()
  File "/home/student/venv/lib/python3.11/site-packages/django/db/migrations/loader.py", line 305, in build_graph
    self.graph.validate_consistency()
  File "/home/student/venv/lib/python3.11/site-packages/django/db/migrations/graph.py", line 198, in validate_consistency
    [n.raise_error() for n in self.node_map.values() if isinstance(n, DummyNode)]
  File "/home/student/venv/lib/python3.11/site-packages/django/db/migrations/graph.py", line 60, in raise_error
    raise NodeNotFoundError(self.error_message, self.key, origin=self.origin)
django.db.migrations.exceptions.NodeNotFoundError: Migration polls.0002_choice dependencies reference nonexistent parent node ('polls', '0001_initial')"""

_VIEWS = """from django.db.models import F
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import generic

from .models import Choice, Question


class IndexView(generic.ListView):
    template_name = "polls/index.html"
    context_object_name = "latest_question_list"

    def get_queryset(self):
        \"\"\"Return the last five published questions.\"\"\"
        return Question.objects.order_by("-pub_date")[:5]


def vote(request, question_id):
    question = get_object_or_404(Question, pk=question_id)
    try:
        selected_choice = question.choice_set.get(pk=request.POST["choice"])
    except (KeyError, Choice.DoesNotExist):
        return render(
            request,
            "polls/detail.html",
            {"question": question, "error_message": "You didn't select a choice."},
        )
    selected_choice.votes = F("votes") + 1
    selected_choice.save()
    return HttpResponseRedirect(reverse("polls:results", args=(question.id,)))"""

_MODELS = """import datetime

from django.db import models
from django.utils import timezone


class Question(models.Model):
    question_text = models.CharField(max_length=200)
    pub_date = models.DateTimeField("date published")

    def __str__(self):
        return self.question_text

    def was_published_recently(self):
        now = timezone.now()
        return now - datetime.timedelta(days=1) <= self.pub_date <= now


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE)
    choice_text = models.CharField(max_length=200)
    votes = models.IntegerField(default=0)"""

_CONSUMER = """import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        message = json.loads(text_data)["message"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))"""

_TEST = """from django.test import TestCase
from django.urls import reverse

from .models import Question


class QuestionIndexViewTests(TestCase):
    def test_no_questions(self):
        response = self.client.get(reverse("polls:index"))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "No polls are available.")
        self.assertQuerySetEqual(response.context["latest_question_list"], [])

    def test_past_question(self):
        question = create_question(question_text="Past question.", days=-30)
        response = self.client.get(reverse("polls:index"))
        self.assertQuerySetEqual(response.context["latest_question_list"], [question])"""

_SHELL = """$ python manage.py runserver
Watching for file changes with StatReloader
Performing system checks...

System check identified no issues (0 silenced).
You have 18 unapplied migration(s). Your project may not work properly until you apply the migrations for app(s): admin, auth, contenttypes, sessions.
Run 'python manage.py migrate' to apply them.
December 06, 2026 - 10:15:02
Django version 5.2, using settings 'mysite.settings'
Starting development server at http://127.0.0.1:8000/
Quit the server with CONTROL-C."""


def _fenced(prose: str, lang: str, code: str) -> str:
    return f"{prose}\n```{lang}\n{code}\n```"


CODE: tuple[str, ...] = (
    _fenced("투표 누르면 이 에러가 나요", "pytb", _TRACEBACK),
    _fenced("migrate 하니까 이렇게 나오는데 어떻게 하죠", "python", _TRACEBACK_DB),
    _fenced("제 views.py 입니다, 어디가 틀렸을까요", "python", _VIEWS),
    _fenced("here is my models file", "python", _MODELS),
    _fenced("this is the consumer from the tutorial", "python", _CONSUMER),
    _fenced("my tests, the second one fails", "python", _TEST),
    _fenced("runserver 출력이에요", "", _SHELL),
    _fenced("same traceback without highlighting", "", _TRACEBACK),
)

LINKS: tuple[str, ...] = (
    "https://docs.djangoproject.com/en/5.2/topics/db/queries/ 여기 보시면 나와요",
    "공식 문서 https://docs.djangoproject.com/en/5.2/ref/models/fields/#foreignkey",
    "오늘 예제 코드 https://github.com/django/django/blob/main/django/views/generic/list.py",
    "www.python.org 에서 3.11 받으시면 됩니다",
    "https://channels.readthedocs.io/en/latest/tutorial/part_2.html the chat tutorial",
    "slides: https://example.com/lectures/django/week-07.pdf",
    "https://stackoverflow.com/questions/16853649/how-to-fix-csrf-verification-failed",
    "https://pypi.org/project/channels-redis/ and https://redis.io/docs/latest/develop/interact/pubsub/",
)

TEXTS: dict[str, tuple[str, ...]] = {"plain": PLAIN, "inline": INLINE, "code": CODE, "link": LINKS}


def parse_mix(text: str) -> dict[str, float]:
    """``"70,15,10,5"``: the weights of plain, inline, code and link texts (any scale, plain > 0)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(KINDS):
        raise ValueError(f"the mix is {len(KINDS)} weights ({', '.join(KINDS)}), e.g. {DEFAULT_MIX}")
    try:
        weights = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"the mix is numbers, e.g. {DEFAULT_MIX}") from None
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights are >= 0, and not all 0")
    return dict(zip(KINDS, weights, strict=True))


def mix_label(mix: Mapping[str, float]) -> str:
    """``70/15/10/5`` in percent of the whole."""
    total = sum(mix.values())
    return "/".join(f"{100 * mix[k] / total:.0f}" for k in KINDS)


def schedule(mix: Mapping[str, float], slots: int = SLOTS, seed: int = 16) -> list[str]:
    """``slots`` kinds, each kind's count its share of ``slots`` (largest remainders get the
    rounding), shuffled with ``seed``: the order a sender's messages take their kinds in."""
    total = sum(mix[k] for k in KINDS)
    exact = {k: slots * mix[k] / total for k in KINDS}
    counts = {k: int(exact[k]) for k in KINDS}
    short = slots - sum(counts.values())
    for k in sorted(KINDS, key=lambda k: (counts[k] - exact[k], KINDS.index(k)))[:short]:
        counts[k] += 1
    kinds = [k for k in KINDS for _ in range(counts[k])]
    random.Random(seed).shuffle(kinds)
    return kinds


class MarkdownPlan:
    """Which text sender ``sender`` sends as its ``n``-th message."""

    def __init__(self, mix: Mapping[str, float]) -> None:
        self.mix = dict(mix)
        self.kinds = schedule(mix)

    def kind(self, sender: int, n: int) -> str:
        return self.kinds[(n + sender * 37) % len(self.kinds)]

    def text(self, sender: int, n: int) -> str:
        texts = TEXTS[self.kind(sender, n)]
        return texts[(n + sender * 7) % len(texts)]

    def kinds_sent(self, sent: Mapping[int, int]) -> Counter[str]:
        """How many texts of each kind the senders sent (``sent``: sender -> messages sent)."""
        got: Counter[str] = Counter()
        for sender, count in sent.items():
            full = count // len(self.kinds)
            for k in KINDS:
                got[k] += full * self.kinds.count(k)
            for n in range(full * len(self.kinds), count):
                got[self.kind(sender, n)] += 1
        return got

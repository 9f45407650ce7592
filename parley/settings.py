"""Parley settings, read once from the environment.

Every knob is an environment variable with a safe default; the README has the table. Limits are
named ``PARLEY_*`` and read here only, so a reader finds each one in one place.
"""

import os
import re
import urllib.parse
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.clientaddr import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be >= 0, got {value}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


DEBUG = env_bool("DEBUG", False)

# A fixed development key is fine for a laptop; a deployment sets SECRET_KEY (docs/deployment.md).
# Its "django-insecure-" prefix makes `manage.py check --deploy` warn when it is left in place.
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-parley-development-key-set-SECRET_KEY-in-production")

ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For / X-Forwarded-Proto are
# believed (core/clientaddr.py); empty: the TCP peer is the client.
PARLEY_TRUSTED_PROXIES = env_list("PARLEY_TRUSTED_PROXIES")
try:
    parse_networks(PARLEY_TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"PARLEY_TRUSTED_PROXIES: {exc}") from None

INSTALLED_APPS = [
    "django.contrib.admin",  # /admin/ (chat/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",  # django-csp: the Content-Security-Policy header (and its settings check)
    "chat",
    "markup",  # a message's Markdown as sanitized HTML (markup/markdown.py)
    "uploads",  # files and images shared in rooms (docs/uploads.md)
    "accounts",
    "axes",  # django-axes: failed logins throttled per username and per address (see below)
    "ninja",  # django-ninja: the REST API's framework (its Swagger UI's templates and static files)
    "search",  # finding messages, Korean included (docs/search.md)
    "api",  # the REST API v1 at /api/v1 (docs/api.md)
    "terminal",  # the `parley` terminal client (docs/terminal.md): a client of the API, no models or URLs
    "bots",  # bot accounts (docs/webhooks.md)
    "hooks",  # incoming and outgoing webhooks (docs/webhooks.md)
]

MIDDLEWARE = [
    # Before all: an id for the request's log lines, answered in X-Request-ID (core/logs.py).
    "core.logs.request_id_middleware",
    # Then: X-Forwarded-For / X-Forwarded-Proto believed from PARLEY_TRUSTED_PROXIES only.
    "parley.middleware.trusted_proxy_middleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Every string a request brings, checked before a view reads it (core.inputs): 400 if refused.
    "parley.middleware.input_check_middleware",
    # A page whose backend is down is a 503, not a 500.
    "parley.middleware.BackendDownMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into Parley's login page with a message.
    "axes.middleware.AxesMiddleware",
]

# --- Security headers and HTTPS (docs/deployment.md, "HTTPS and hardening") ----------------------
# Every page: a Content-Security-Policy with no inline script or style (the pages load their own
# static files only; the room page's socket is same-origin, which 'self' covers in CSP Level 3),
# no framing, no MIME sniffing, no Referer to other sites.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "parley.errors.csrf_failure"  # Parley's 403 page, in the visitor's language
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# PARLEY_HTTPS=1: the site is served over HTTPS (directly or behind a TLS proxy). Plain-HTTP requests
# are redirected, cookies are sent over HTTPS only, and browsers are told by HSTS to use nothing
# else. Behind a proxy, its X-Forwarded-Proto says whether the client used HTTPS; parley.middleware
# drops that header unless the peer is in PARLEY_TRUSTED_PROXIES, so Django may believe it here.
PARLEY_HTTPS = env_bool("PARLEY_HTTPS", False)
# Seconds browsers remember to use HTTPS only (when PARLEY_HTTPS=1); a year, with subdomains and
# preload, as hstspreload.org asks. Start lower (300) while trying HTTPS out; 0 sends no HSTS.
PARLEY_HSTS_SECONDS = env_int("PARLEY_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_SSL_REDIRECT = PARLEY_HTTPS
SESSION_COOKIE_SECURE = PARLEY_HTTPS
CSRF_COOKIE_SECURE = PARLEY_HTTPS
SECURE_HSTS_SECONDS = PARLEY_HSTS_SECONDS if PARLEY_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PARLEY_HTTPS else None

ROOT_URLCONF = "parley.urls"
ASGI_APPLICATION = "parley.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "parley" / "templates"],  # the error pages (parley/errors.py)
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Storage -------------------------------------------------------------------------------------
# sqlite:///path (default: db.sqlite3 in the project) or postgres://user@host:port/name.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Persistent connections: Channels closes "old" connections around every database call, and with
# CONN_MAX_AGE=0 that meant a new connection per call (a quarter of the CPU of a connection storm).
# No health checks: Django would send a "SELECT 1" before the first query of every such call (a
# quarter of the CPU again). A connection that died is closed after its first failed query.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=False)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE: a write transaction takes the lock when it starts, so two writers never
        # deadlock upgrading a read lock. WAL: readers do not block the writer.
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("PARLEY_TEST_SQLITE", str(BASE_DIR / "test-db.sqlite3"))}
elif os.environ.get("PARLEY_TEST_DATABASE"):
    # The database the test suite creates and drops (default: "test_" + the database's name). make
    # test gives each run its own, so two runs on one PostgreSQL never drop each other's.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["PARLEY_TEST_DATABASE"]}
# The send path's insert statement is prepared on PostgreSQL (chat.store): parsed and planned once per
# connection. Off behind a pooler in transaction mode that cannot keep them (PgBouncer before 1.22,
# or with max_prepared_statements = 0).
PARLEY_DB_PREPARE = env_bool("PARLEY_DB_PREPARE", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Fan-out and channel layer -------------------------------------------------------------------
# Without REDIS_URL everything runs in one process: in-memory channel layer, in-process fan-out.
# With it, Redis carries fan-out (pub/sub) and presence between processes and machines.
REDIS_URL = os.environ.get("REDIS_URL", "").strip() or None

# redis-py 8 gives every read a 5 s timeout by default, which breaks a blocking receive on an idle
# socket (channels_redis #422). Reads that wait for traffic (pub/sub, BZPOPMIN) must be allowed to
# wait; this is the timeout of ordinary commands only, and health checks find dead sockets.
PARLEY_REDIS_SOCKET_TIMEOUT = env_float("PARLEY_REDIS_SOCKET_TIMEOUT", 30.0)

if REDIS_URL:
    # redis://host:port/db, redis+sentinel://host:port,host:port/<service>[/<db>] for a primary
    # that Redis Sentinel names, or redis+cluster://host:port,host:port for a Redis Cluster
    # (chat/fanout/redisconn.py; docs/deployment.md).
    from chat.fanout.redisconn import channel_layer_host, check_url, is_cluster

    try:
        check_url(REDIS_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REDIS_URL: {exc}") from None
if REDIS_URL and is_cluster(REDIS_URL):
    # channels_redis cannot use a Redis Cluster, and Parley's fan-out does not use the channel
    # layer (chat/fanout/clusterbus.py): group_send stays within one process.
    CHANNEL_LAYERS: dict[str, dict[str, object]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    channel_layer_host(REDIS_URL, socket_timeout=PARLEY_REDIS_SOCKET_TIMEOUT, health_check_interval=15)
                ],
                "prefix": env_str("PARLEY_REDIS_PREFIX", "parley"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Key prefix for Parley's own Redis keys and pub/sub channels; tests give each run its own.
PARLEY_REDIS_PREFIX = env_str("PARLEY_REDIS_PREFIX", "parley")
if REDIS_URL and is_cluster(REDIS_URL) and ("{" in PARLEY_REDIS_PREFIX or "}" in PARLEY_REDIS_PREFIX):
    # On a cluster the room's key is each channel's and key's hash tag: a brace in the prefix
    # would make the prefix the tag, and put every room on one shard.
    raise ImproperlyConfigured("PARLEY_REDIS_PREFIX: no { or } with a redis+cluster:// REDIS_URL")

# --- Limits (all documented in the README) -------------------------------------------------------
PARLEY_HISTORY_ON_JOIN = env_int("PARLEY_HISTORY_ON_JOIN", 50)
# Largest page a client may ask for, and the size of each history frame on resume.
PARLEY_HISTORY_PAGE_MAX = env_int("PARLEY_HISTORY_PAGE_MAX", 100, minimum=1)
# The largest history (or resume) page, bytes: a page holds fewer messages rather than pass it (at
# least one). 50 messages at 4,000 Korean characters, with their html, are over a megabyte, more
# than many clients take in one frame.
PARLEY_HISTORY_FRAME_BYTES = env_int("PARLEY_HISTORY_FRAME_BYTES", 512 * 1024, minimum=1024)
# Searches (GET /api/v1/search) per user per minute, then 429; 0 turns the limit off (docs/search.md).
PARLEY_SEARCH_PER_MINUTE = env_int("PARLEY_SEARCH_PER_MINUTE", 60, minimum=0)
PARLEY_MAX_MESSAGE_CHARS = env_int("PARLEY_MAX_MESSAGE_CHARS", 4000, minimum=1)
PARLEY_MAX_FRAME_BYTES = env_int("PARLEY_MAX_FRAME_BYTES", 64 * 1024, minimum=1024)
# Texts longer than this are shown as plain text, their Markdown not parsed (the parser's worst
# inputs cost ~16 ms per 1,000 characters; docs/protocol.md).
PARLEY_MARKDOWN_MAX_CHARS = env_int("PARLEY_MARKDOWN_MAX_CHARS", 20_000, minimum=1)
# The largest HTTP request body but an upload's (which PARLEY_UPLOAD_MAX_BYTES bounds), bytes: a
# longer one is answered 413 without being read (parley/edge.py BodyLimit). Room for the longest
# message a namespace may allow (100,000 characters, 4 bytes each in UTF-8) and its JSON.
PARLEY_MAX_BODY_BYTES = env_int("PARLEY_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Django's own limit on a non-file body, kept above the edge's.
DATA_UPLOAD_MAX_MEMORY_SIZE = PARLEY_MAX_BODY_BYTES + 1
PARLEY_MAX_NAME_CHARS = env_int("PARLEY_MAX_NAME_CHARS", 32, minimum=1)
PARLEY_RATE_PER_SEC = env_float("PARLEY_RATE_PER_SEC", 10.0)
PARLEY_RATE_BURST = env_int("PARLEY_RATE_BURST", 30)
# Every other client frame (ping, typing, history request, and any frame that is refused: bad JSON,
# unknown type, bad field, binary, over the message rate) costs the connection one token of its
# frame budget; one that keeps sending past it is closed with 1008. A page sends a typing frame
# every 2 s and a ping every 25 s of silence, so 10/s and 50 at once is far above any real client.
PARLEY_FRAME_RATE_PER_SEC = env_float("PARLEY_FRAME_RATE_PER_SEC", 10.0)
PARLEY_FRAME_BURST = env_int("PARLEY_FRAME_BURST", 50)
# History pages are read on threads of their own (chat/reads.py), at most this many at once per
# process, so reads never hold up the writes and other rooms.
PARLEY_HISTORY_READ_THREADS = env_int("PARLEY_HISTORY_READ_THREADS", 2, minimum=1)
# Frames waiting for one slow client before it is closed with 1013 (frames are shared between
# clients, so this bounds a list of references, not copies).
PARLEY_SEND_QUEUE_MAX = env_int("PARLEY_SEND_QUEUE_MAX", 1000, minimum=1)
# Seconds the socket of a client closed for falling behind stays open for it to read what was sent
# and then the 1013 close; then it is reset and its buffers freed (chat/fanout/outbox.py close_now).
PARLEY_SLOW_CLIENT_GRACE = env_float("PARLEY_SLOW_CLIENT_GRACE", 10.0)
# The young generation's threshold of Python's cyclic garbage collector in a serving process
# (parley/asgi.py): container objects allocated, net, between two collections of it. At Python's
# 700 a process that holds thousands of idle connections spends about a third of each join in the
# collector, mostly in full collections of everything it holds; 0 leaves Python's default.
PARLEY_GC_THRESHOLD = env_int("PARLEY_GC_THRESHOLD", 50_000)
# Seconds without an event after which an SSE stream (chat/sse.py) gets a comment line, so that
# proxies do not close it as idle (0: none).
PARLEY_SSE_KEEPALIVE = env_float("PARLEY_SSE_KEEPALIVE", 15.0)
PARLEY_ALLOW_GUESTS = env_bool("PARLEY_ALLOW_GUESTS", True)
# Seconds after posting during which a message's author may edit it; 0: no limit.
PARLEY_EDIT_WINDOW = env_float("PARLEY_EDIT_WINDOW", 900.0)
# Days messages are kept (0: forever), unless a namespace's policy says otherwise; older ones are
# removed by `manage.py prune_messages` (docs/namespaces.md: run it daily, e.g. from cron).
PARLEY_RETENTION_DAYS = env_int("PARLEY_RETENTION_DAYS", 0)
# --- Bots and webhooks (docs/webhooks.md) ----------------------------------------------------------
# An outgoing webhook's retries back off exponentially from this many seconds...
PARLEY_WEBHOOK_RETRY_BASE = env_float("PARLEY_WEBHOOK_RETRY_BASE", 1.0)
# ...to at most this many.
PARLEY_WEBHOOK_RETRY_MAX = env_float("PARLEY_WEBHOOK_RETRY_MAX", 600.0)
# After this many failed attempts in a row a hook is paused (its state `paused`) until resumed.
PARLEY_WEBHOOK_PAUSE_AFTER = env_int("PARLEY_WEBHOOK_PAUSE_AFTER", 20, minimum=1)
# Receivers on private, loopback or link-local addresses are refused unless this is on (SSRF).
PARLEY_WEBHOOK_ALLOW_PRIVATE = env_bool("PARLEY_WEBHOOK_ALLOW_PRIVATE", False)
# Seconds a receiver has to answer one delivery (connect + read); longer is a failure.
PARLEY_WEBHOOK_TIMEOUT = env_float("PARLEY_WEBHOOK_TIMEOUT", 10.0)
# Seconds a process holds a hook's delivery lease without renewing it (renewed before each attempt);
# a process killed with -9 hands its hooks over this long after. More than PARLEY_WEBHOOK_TIMEOUT.
PARLEY_WEBHOOK_LEASE = env_float("PARLEY_WEBHOOK_LEASE", 30.0)
# Whether this server's processes deliver outgoing webhooks (started by the ASGI lifespan: parley/asgi.py).
PARLEY_WEBHOOK_DELIVERY = env_bool("PARLEY_WEBHOOK_DELIVERY", True)
# How often each process looks for hooks with events to deliver, seconds.
PARLEY_WEBHOOK_POLL = env_float("PARLEY_WEBHOOK_POLL", 1.0)
# Messages an incoming webhook may post per second (per process), and the burst above that; past it: 429.
PARLEY_WEBHOOK_INCOMING_RATE_PER_SEC = env_float("PARLEY_WEBHOOK_INCOMING_RATE_PER_SEC", 1.0)
PARLEY_WEBHOOK_INCOMING_BURST = env_int("PARLEY_WEBHOOK_INCOMING_BURST", 20, minimum=1)
# --- Uploads (docs/uploads.md) -------------------------------------------------------------------
# Whether members may share files at all (a namespace's `uploads` policy may turn them off too).
PARLEY_UPLOADS = env_bool("PARLEY_UPLOADS", True)
# The largest file, bytes; larger: 413, and the edge reads no further (parley/edge.py BodyLimit).
PARLEY_UPLOAD_MAX_BYTES = env_int("PARLEY_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
# What one user's uploads may take together, bytes; past it: 413. 0: no quota.
PARLEY_UPLOAD_QUOTA_BYTES = env_int("PARLEY_UPLOAD_QUOTA_BYTES", 1024**3)
# Uploads a minute per user (per process, as the API's write budget); past it: 429. 0: no limit.
PARLEY_UPLOADS_PER_MINUTE = env_int("PARLEY_UPLOADS_PER_MINUTE", 30)
# The most pixels an image may have (a decompression bomb is refused before it is decoded).
PARLEY_UPLOAD_MAX_PIXELS = env_int("PARLEY_UPLOAD_MAX_PIXELS", 40_000_000, minimum=1)
# Hours an upload no message uses is kept (`manage.py prune_uploads`, run with prune_messages).
PARLEY_UPLOAD_UNUSED_HOURS = env_float("PARLEY_UPLOAD_UNUSED_HOURS", 24.0)
# Where files live without S3: a folder (created on first use).
PARLEY_MEDIA_ROOT = Path(env_str("PARLEY_MEDIA_ROOT", str(BASE_DIR / "media"))).resolve()
# An S3-compatible bucket instead (django-storages): the bucket, and its endpoint, keys and region.
PARLEY_S3_BUCKET = os.environ.get("PARLEY_S3_BUCKET", "").strip()
PARLEY_S3_ENDPOINT_URL = os.environ.get("PARLEY_S3_ENDPOINT_URL", "").strip() or None
PARLEY_S3_ACCESS_KEY_ID = os.environ.get("PARLEY_S3_ACCESS_KEY_ID", "").strip() or None
PARLEY_S3_SECRET_ACCESS_KEY = os.environ.get("PARLEY_S3_SECRET_ACCESS_KEY", "").strip() or None
PARLEY_S3_REGION = os.environ.get("PARLEY_S3_REGION", "").strip() or None
# Seconds a download's presigned URL (S3) stays valid: the redirect is followed at once.
PARLEY_S3_URL_SECONDS = env_int("PARLEY_S3_URL_SECONDS", 60, minimum=1)
if PARLEY_S3_BUCKET:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": PARLEY_S3_BUCKET,
                "endpoint_url": PARLEY_S3_ENDPOINT_URL,
                "access_key": PARLEY_S3_ACCESS_KEY_ID,
                "secret_key": PARLEY_S3_SECRET_ACCESS_KEY,
                "region_name": PARLEY_S3_REGION,
                "file_overwrite": True,  # keys are random (uploads.store.new_key): no HEAD per save
                "default_acl": None,
                "querystring_auth": True,
                # Presigned downloads signed with SigV4: what every region takes (boto3 would sign
                # us-east-1's with SigV2, which AWS is retiring and other S3 servers refuse).
                "signature_version": "s3v4",
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # A file's download redirects to the bucket: the room page's images and media load from there.
    _bucket = urllib.parse.urlsplit(PARLEY_S3_ENDPOINT_URL) if PARLEY_S3_ENDPOINT_URL else None
    _origins = (
        [f"{_bucket.scheme}://{_bucket.netloc}", f"{_bucket.scheme}://{PARLEY_S3_BUCKET}.{_bucket.netloc}"]
        if _bucket
        else [
            f"https://{PARLEY_S3_BUCKET}.s3.amazonaws.com",
            f"https://{PARLEY_S3_BUCKET}.s3.{PARLEY_S3_REGION or 'us-east-1'}.amazonaws.com",
        ]
    )
    for _directive in ("img-src", "media-src"):
        CONTENT_SECURITY_POLICY["DIRECTIVES"][_directive] += _origins
else:
    STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": PARLEY_MEDIA_ROOT, "file_permissions_mode": 0o640},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
# Uploads are written by Parley (uploads/store.py), never received straight into a file by
# Django: a multipart file up to the limit is read in memory, then inspected.
FILE_UPLOAD_MAX_MEMORY_SIZE = PARLEY_UPLOAD_MAX_BYTES + 1

# Who may create a namespace: any logged-in user (0), or staff only (1).
PARLEY_NAMESPACE_CREATION_STAFF_ONLY = env_bool("PARLEY_NAMESPACE_CREATION_STAFF_ONLY", False)
# Seconds after which "X is typing" is considered stale by clients (sent in the hello frame).
PARLEY_TYPING_TIMEOUT = env_float("PARLEY_TYPING_TIMEOUT", 5.0)
# Per-message deflate costs ~30 KiB per idle connection; off unless asked for.
PARLEY_WS_COMPRESSION = env_bool("PARLEY_WS_COMPRESSION", False)
# Seconds between the room list's refreshes of its unread and online figures (chat/static/chat/rooms.js
# polls /rooms.json while the page is visible); 0: no refresh, the figures are those of the page load.
PARLEY_ROOM_LIST_REFRESH = env_float("PARLEY_ROOM_LIST_REFRESH", 5.0)

# --- Edge limits (parley/edge.py; README: settings; docs/deployment.md, "Limits at the edge") -----
# Counted per server process: with WORKERS=N each process counts its own. The client address is
# the TCP peer, or X-Forwarded-For's through PARLEY_TRUSTED_PROXIES only (core/clientaddr.py).
# Open WebSockets per client address; over it a handshake gets HTTP 429. Generous: a whole school
# may sit behind one NAT address (30 classes of 30, some with two tabs open). 0: no limit.
PARLEY_ADDRESS_MAX_CONNECTIONS = env_int("PARLEY_ADDRESS_MAX_CONNECTIONS", 1000)
# New WebSocket handshakes per second per client address, and how many may come at once (HTTP 429
# beyond). A burst of 300 lets a lecture hall behind one address reconnect together after a server
# restart; 50/s refills that in 6 s and is a few percent of what one process can open (~1,750/s), so
# one address cannot take a process's handshakes for itself. Either at 0: no limit.
PARLEY_ADDRESS_HANDSHAKE_RATE = env_float("PARLEY_ADDRESS_HANDSHAKE_RATE", 50.0)
PARLEY_ADDRESS_HANDSHAKE_BURST = env_int("PARLEY_ADDRESS_HANDSHAKE_BURST", 300)
# Longest request line (method, URL, version, CRLF): 414 beyond. 8 KiB, as nginx's header buffer
# and the websockets library's line limit; a 9 KB line is refused.
PARLEY_MAX_REQUEST_LINE_BYTES = env_int("PARLEY_MAX_REQUEST_LINE_BYTES", 8192, minimum=256)
# All header lines of a request together: 431 beyond. A browser's requests with cookies take 1-4
# KiB; 16 KiB (Node's default) leaves room for a crowded cookie jar on a shared host.
PARLEY_MAX_REQUEST_HEADER_BYTES = env_int("PARLEY_MAX_REQUEST_HEADER_BYTES", 16384, minimum=1024)
# Seconds a client has to send a whole request, or to complete a WebSocket handshake, from
# connecting (or from the first byte of its next request); then the socket is closed. 0: no limit.
PARLEY_HANDSHAKE_TIMEOUT = env_float("PARLEY_HANDSHAKE_TIMEOUT", 10.0)
# Origins besides the site's own whose pages may open WebSockets (full origins, comma-separated:
# https://chat.example.org,https://class.example.org:8443). The site's own origin is always allowed.
PARLEY_ALLOWED_ORIGINS = env_list("PARLEY_ALLOWED_ORIGINS")
for _origin in PARLEY_ALLOWED_ORIGINS:
    if not re.fullmatch(r"https?://[^/?#@\s]+", _origin):
        raise ImproperlyConfigured(
            f"PARLEY_ALLOWED_ORIGINS: {_origin!r} is not an origin like https://chat.example.org"
        )

# --- Auth, i18n, static --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "index"
LOGOUT_REDIRECT_URL = "index"

# --- Accounts and login throttling (README: settings) --------------------------------------------
# Failed logins, counted for PARLEY_LOGIN_COOLOFF seconds after the last one (django-axes, in the
# database, so every process sees them): a username with PARLEY_LOGIN_FAILURES_PER_USERNAME
# failures, or a client address with PARLEY_LOGIN_FAILURES_PER_ADDRESS (generous: a whole class may
# sit behind one school NAT), is refused until then, even with the right password. 0 turns a limit
# off. A successful login does not count, and forgives that username's failures from that address.
PARLEY_LOGIN_FAILURES_PER_USERNAME = env_int("PARLEY_LOGIN_FAILURES_PER_USERNAME", 5)
PARLEY_LOGIN_FAILURES_PER_ADDRESS = env_int("PARLEY_LOGIN_FAILURES_PER_ADDRESS", 50)
PARLEY_LOGIN_COOLOFF = env_int("PARLEY_LOGIN_COOLOFF", 900, minimum=1)
# "That name is a registered user's" answers one client address may get per minute (the guest-name
# form and ?name=); past them name checks answer rate_limited (close 1013, or HTTP 429), so nobody
# tests thousands of names to learn which are registered. 0 turns the limit off.
PARLEY_NAME_CHECKS_PER_MINUTE = env_int("PARLEY_NAME_CHECKS_PER_MINUTE", 20)

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before the password is tried
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "accounts.throttle.LoginThrottle"  # the two limits above, each on its own
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # in this order: LoginThrottle relies on it
AXES_FAILURE_LIMIT = 1  # LoginThrottle counts limits reached, not failures
AXES_COOLOFF_TIME = "accounts.throttle.cooloff"  # PARLEY_LOGIN_COOLOFF
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the wait is PARLEY_LOGIN_COOLOFF, as the page says
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.request_address"  # core.clientaddr, not django-ipware
AXES_LOCKOUT_CALLABLE = "accounts.views.login_throttled"  # Parley's login page with the reason, HTTP 429
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Operations (docs/deployment.md, "Operations") ------------------------------------------------
# The bearer token Prometheus must send to read /metrics; unset (the default), /metrics is a 404.
PARLEY_METRICS_TOKEN = os.environ.get("PARLEY_METRICS_TOKEN", "").strip()
# Seconds /healthz waits for each backend (a SELECT 1 on a new database connection, a Redis PING)
# before calling it down: short, so a load balancer's probe gets its answer while it still waits.
PARLEY_HEALTH_TIMEOUT = env_float("PARLEY_HEALTH_TIMEOUT", 2.0)
# A load balancer probes health over plain HTTP: no redirect to https for these two (no secrets).
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^healthz$"]

# "plain" (the default): one line of text per record. "json": one JSON object per line, with the
# WebSocket connection's or the HTTP request's id (core/logs.py), for a log collector.
PARLEY_LOG_FORMAT = env_str("PARLEY_LOG_FORMAT", "plain").lower()
if PARLEY_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"PARLEY_LOG_FORMAT must be plain or json, got {PARLEY_LOG_FORMAT!r}")
PARLEY_LOG_LEVEL = env_str("PARLEY_LOG_LEVEL", "INFO")

LOGGING: dict[str, object]
if PARLEY_LOG_FORMAT == "json":
    # Every logger's records (Parley's, Django's, uvicorn's: parley/serve.py leaves uvicorn's own
    # handlers out) reach one handler on the root logger, which writes JSON.
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "core.logs.ContextFilter"}},
        "formatters": {"json": {"()": "core.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "parley": {"level": PARLEY_LOG_LEVEL},
            "django": {"handlers": [], "level": "INFO"},  # no plain-text handler of Django's own
        },
    }
else:
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {
            "parley": {"handlers": ["console"], "level": PARLEY_LOG_LEVEL},
            # A page's or an API call's uncaught exception (a 500): its traceback, on the console.
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        },
    }

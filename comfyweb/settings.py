"""Django settings for comfyweb.

Every deploy-time value comes from the environment (12-factor) with a safe embedded
default: SQLite, the in-memory channel layer, local media and the ComfyUI emulator.
See README.md for the full list of variables.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from comfyweb.comfy.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE
from comfyweb.core.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEV_SECRET_KEY = "dev-insecure-comfyweb-secret-key-change-me"  # noqa: S105 - refused in production

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
# DEV_SECRET_KEY is refused in production by comfyweb.asgi at start (any ASGI server) and by the system check
# comfyweb.E001 (management commands): see comfyweb/core/startup.py.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # `runserver` only (development); the site is served by uvicorn: comfyweb.core.webserver
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "comfyweb.core",
    "comfyweb.emulator",
    "comfyweb.agent",
    "comfyweb.catalog",
    "comfyweb.jobs",
    "comfyweb.campaigns",
]

MIDDLEWARE = [
    "comfyweb.core.middleware.InternalEndpointsMiddleware",  # probes and scrapers by pod IP
    "comfyweb.core.middleware.BusyMiddleware",  # ServerBusy (all image decode slots taken): 503 + Retry-After
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "comfyweb.core.headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into the lockout page
    "comfyweb.core.middleware.SyncMiddlewareChain",  # last: the whole chain runs in the request's thread
]

ROOT_URLCONF = "comfyweb.urls"
ASGI_APPLICATION = "comfyweb.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "comfyweb.jobs.context_processors.backend_info",
            ],
        },
    },
]

# --- Database: SQLite by default, any DATABASE_URL otherwise (PostgreSQL when scaled out).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
# A persistent connection is checked before a request reuses it: a database restart costs no failed request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL: each process keeps a pool of connections (psycopg_pool, checked before each use), so a burst
# of requests or WebSocket connects borrows open connections instead of opening one each (Django under ASGI
# runs every request in a thread of its own: unpooled, a crowd opens a connection per request in flight and
# PostgreSQL refuses the rest with "too many clients"). The pool bounds a process's connections; a request
# that finds them all lent waits up to DATABASE_POOL_TIMEOUT. DATABASE_POOL_SIZE=0 turns the pool off.
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=10)
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=5.0)  # seconds to wait for a free connection
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django returns them after use
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT,
        # While PostgreSQL is away the pool tries again with a doubling delay; giving up after this long
        # and starting again on the next request keeps the delay short once it is back (a restart).
        "reconnect_timeout": DATABASE_POOL_TIMEOUT,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file (not :memory:) so async consumers and live servers share it; one per test run.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "TEST_DB_NAME", default=str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels: in-memory layer embedded, Redis when REDIS_URL is set. Progress frames are
# fire-and-forget (a browser that misses one gets the next, and the stored snapshot on reconnect),
# so the pub/sub layer fits: pushed to each process, no per-message round trip or queue on Redis.
REDIS_URL = env.str("REDIS_URL", default="")
# The backend is channels_redis's pub/sub layer that also tells the relay when its subscription came back
# after a Redis blink (comfyweb.jobs.relay.layer): the open job pages then re-read their jobs.
REDIS_TIMEOUTS = {"socket_connect_timeout": 2, "socket_keepalive": True}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "comfyweb.jobs.relay.layer.ReconnectAwarePubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, **REDIS_TIMEOUTS}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Cache: local memory embedded, Redis when REDIS_URL is set (rate limits, object_info).
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {**REDIS_TIMEOUTS, "socket_timeout": 2},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation: Simplified Chinese and English.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# The language of the texts operators type into templates and campaigns; the other LANGUAGES go in their
# `translations` (comfyweb/catalog/translations.py), and a missing translation shows this language's text.
CONTENT_LANGUAGE = "zh-hans"
LOCALE_PATHS = [BASE_DIR / "comfyweb" / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and media files.
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
# whitenoise serves STATIC_ROOT (collectstatic) and, embedded, the finders; it warns when the folder is missing.
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage"}
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- REST framework (jobs API, /api/v1/): tokens for API clients, the session for the browser and
# anonymous visitors. Job creation is rate limited per visitor (account or session) and per client IP.
INSTALLED_APPS += ["drf_spectacular_sidecar"]  # Swagger UI files served by this site, no CDN
JOB_CREATE_RATE = env.str("JOB_CREATE_RATE", default="30/min")
JOB_CREATE_IP_RATE = env.str("JOB_CREATE_IP_RATE", default="120/min")
# Picture URLs sent to the API are fetched only from public addresses; these hosts are trusted anyway.
API_FETCH_ALLOW_HOSTS = env.list("API_FETCH_ALLOW_HOSTS", default=[])
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Client IPs for the throttles: REMOTE_ADDR, or the last X-Forwarded-For hop behind one proxy.
    "NUM_PROXIES": 1 if env.bool("BEHIND_PROXY", default=False) else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "comfyweb API",
    "DESCRIPTION": "Run ComfyUI workflow templates as jobs and follow their progress.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- ComfyUI / GPU backends.
# COMFYUI_URL: a real ComfyUI for the embedded topology; empty means the embedded emulator.
COMFYUI_URL = env.str("COMFYUI_URL", default="")
EMULATOR_HOST = env.str("EMULATOR_HOST", default="127.0.0.1")
EMULATOR_PORT = env.int("EMULATOR_PORT", default=8188)
EMULATOR_STEP_MS = env.int("EMULATOR_STEP_MS", default=50)
EMULATOR_SLOTS = env.int("EMULATOR_SLOTS", default=2)
EMULATOR_PREVIEW_METHOD = env.str("EMULATOR_PREVIEW_METHOD", default="auto")  # "none": no sampler previews
# GPU_BACKENDS: comma-separated "kind+url#slots" entries, e.g. "agent+http://gpu1:8189#2".
GPU_BACKENDS = env.str("GPU_BACKENDS", default="")
AGENT_TOKEN = env.str("AGENT_TOKEN", default="")

# --- Jobs.
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
JOB_TIMEOUT = env.int("JOB_TIMEOUT", default=600)  # seconds a job may run on a backend
JOB_HEARTBEAT_STALE = env.int("JOB_HEARTBEAT_STALE", default=30)  # seconds before another worker takes over
# A visitor is their account, else their session: fairness and these caps count that person. An address
# (a venue's Wi-Fi, a carrier NAT: many people) has its own, larger caps, so dropping cookies gains little.
JOB_MAX_QUEUED_PER_VISITOR = env.int("JOB_MAX_QUEUED_PER_VISITOR", default=16)
JOB_MAX_QUEUED_PER_ADDRESS = env.int("JOB_MAX_QUEUED_PER_ADDRESS", default=10 * JOB_MAX_QUEUED_PER_VISITOR)
JOB_ADDRESS_QUOTA_FACTOR = env.int("JOB_ADDRESS_QUOTA_FACTOR", default=10)  # an address: this many daily quotas
JOB_MAX_QUANTITY = 8  # images one submission may ask for (forms, REST API, services)
JOB_DEFAULT_QUANTITY = 1  # what the form offers first: one image, more only when the visitor asks
JOB_RELAY_TICK = env.float("JOB_RELAY_TICK", default=0.1)  # seconds: the most a job's newest progress is held
# Job states all workers together publish at most per second (500 running jobs: one each every 0.1 s); with more
# running jobs each one's tick grows. Measured in `make bench` (relay): one web process on 2 cores relays this many.
JOB_RELAY_STATES_PER_SECOND = env.int("JOB_RELAY_STATES_PER_SECOND", default=5000)
JOB_LIVE_PREVIEWS = env.bool("JOB_LIVE_PREVIEWS", default=True)  # sampler previews; a template may say otherwise
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Trust (docs/privacy.md): retention, moderation and AI-generated labels. Campaigns override most of these
# in the admin; these are the site's defaults.
PURGE_KEEP_UPLOADS_DAYS = env.int("PURGE_KEEP_UPLOADS_DAYS", default=7)  # visitors' photos, from sending
PURGE_KEEP_OUTPUTS_DAYS = env.int("PURGE_KEEP_OUTPUTS_DAYS", default=30)  # images made (and the job), from sending
PURGE_KEPT_PHOTOS_HOURS = env.int("PURGE_KEPT_PHOTOS_HOURS", default=24)  # photos kept after a refused form
PURGE_INTERVAL = env.float("PURGE_INTERVAL", default=600)  # seconds between a worker's purge rounds (0: never)
# Checks of photos, text and images made: dotted paths of jobs.trust.moderation.Check classes, in order.
MODERATION_CHECKS = env.list(
    "MODERATION_CHECKS",
    default=["comfyweb.jobs.trust.nudity.NudeNetCheck", "comfyweb.jobs.trust.words.WordListCheck"],
)
MODERATION_INPUT_THRESHOLD = env.float("MODERATION_INPUT_THRESHOLD", default=0.5)
MODERATION_OUTPUT_THRESHOLD = env.float("MODERATION_OUTPUT_THRESHOLD", default=0.5)
MODERATION_FAIL_CLOSED = env.bool("MODERATION_FAIL_CLOSED", default=True)  # a check that fails blocks
LABEL_VISIBLE = env.bool("LABEL_VISIBLE", default=True)
LABEL_TEXT = env.str("LABEL_TEXT", default="AI生成")
# A font with CJK glyphs for the visible label (Debian: fonts-wqy-microhei, installed by `make browser` and the image).
LABEL_FONT = env.str("LABEL_FONT", default="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LABEL_SERVICE_NAME = env.str("LABEL_SERVICE_NAME", default="comfyweb")  # who made it, in the implicit label
LABEL_SERVICE_ID = env.str("LABEL_SERVICE_ID", default="")  # e.g. the service's filing number
# C2PA content credentials: signed with the operator's certificate chain and private key (PEM files) when set.
C2PA_CERT_FILE = env.str("C2PA_CERT_FILE", default="")
C2PA_KEY_FILE = env.str("C2PA_KEY_FILE", default="")
C2PA_SIGNING_ALG = env.str("C2PA_SIGNING_ALG", default="es256")
C2PA_TSA_URL = env.str("C2PA_TSA_URL", default="")
# --- Take-away: share links to a visitor's images (comfyweb/campaigns/sharing.py, docs/security.md).
SHARE_LINK_DAYS = env.int("SHARE_LINK_DAYS", default=7)  # what the share form offers first
SHARE_LINK_MAX_DAYS = env.int("SHARE_LINK_MAX_DAYS", default=30)  # the longest a visitor may choose

# --- Limits for user input.
# One source for the image limits: the protocol layer's defaults, which the agent uses too.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=DEFAULT_MAX_BYTES)
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=DEFAULT_MAX_PIXELS)
# Photos are kept at most this many pixels on their long side (the browser already sends them so): a JPEG
# is decoded at a fraction of its size, other formats are shrunk as soon as they are decoded.
UPLOAD_MAX_SIDE = env.int("UPLOAD_MAX_SIDE", default=DEFAULT_MAX_SIDE)
# Decoding is what an upload costs (a 40-megapixel PNG: ~160 MB while it decodes): at most this many at
# once per web process; the others wait up to IMAGE_DECODE_WAIT seconds, then get 503 with Retry-After.
IMAGE_DECODES_AT_ONCE = env.int("IMAGE_DECODES_AT_ONCE", default=2)
IMAGE_DECODE_WAIT = env.float("IMAGE_DECODE_WAIT", default=10.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 5 * 1024 * 1024
# Any request body, to any URL: refused from Content-Length (or a running count) before it is read, by
# the outermost ASGI layer (comfyweb.core.bodylimit). Two photos at the limit plus the rest of the form.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=2 * UPLOAD_MAX_BYTES + 5 * 1024 * 1024)
# HTTP requests a web process works on at once (comfyweb.core.admission); the next wait their turn, first come
# first served, before their body is read. At most the database pool's size, so none waits for a connection.
WEB_REQUESTS_AT_ONCE = env.int("WEB_REQUESTS_AT_ONCE", default=8)
# Of those, at most this many requests with a photo-sized body (0: no separate line), so pages and status reads
# pass a crowd of uploads. Off by default: in the spike bench 4 of 8 slowed the submits more than it sped the pages.
WEB_UPLOADS_AT_ONCE = env.int("WEB_UPLOADS_AT_ONCE", default=0)
# Seconds an idle kept-alive connection stays open (uvicorn's own default is 5). Longer than the idle timeout of
# what stands in front (a cloud load balancer: 60 s), so the web never closes a connection just as the next
# request is sent on it: that request would be lost with a reset (comfyweb.core.webserver).
WEB_KEEP_ALIVE_SECONDS = env.float("WEB_KEEP_ALIVE_SECONDS", default=75.0)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security headers (docs/security.md).
HTTPS = env.bool("HTTPS", default=False)
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
if HTTPS:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [
        r"^healthz$",
        r"^readyz$",
        r"^metrics$",
    ]  # probes and scrapers speak plain HTTP to the pod
SECURE_REFERRER_POLICY = "same-origin"  # job and result URLs never leave the site in a Referer
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


# Where pages load images from besides this site: the media host (an absolute MEDIA_URL, the S3 bucket or
# its endpoint) and CSP_IMG_ORIGINS (e.g. a CDN holding template covers).
MEDIA_ORIGINS = [origin for origin in [_origin(MEDIA_URL)] if origin]
if AWS_STORAGE_BUCKET_NAME:
    _endpoint = env.str("AWS_ENDPOINT_URL", default="")
    if _endpoint and _origin(_endpoint):
        _endpoint_parts = urlsplit(_endpoint)
        MEDIA_ORIGINS += [_origin(_endpoint), f"{_endpoint_parts.scheme}://*.{_endpoint_parts.netloc}"]
    else:
        # Presigned URLs name the bucket in the host (virtual style) or in the path: both hosts, with the region.
        _region = env.str("AWS_DEFAULT_REGION", default="")
        for _host in ["s3.amazonaws.com", *([f"s3.{_region}.amazonaws.com"] if _region else [])]:
            MEDIA_ORIGINS += [f"https://{AWS_STORAGE_BUCKET_NAME}.{_host}", f"https://{_host}"]
CSP_IMG_ORIGINS = env.list("CSP_IMG_ORIGINS", default=[])
# Content-Security-Policy (Django's own middleware): scripts and styles only from this site's files, never
# inline on visitor pages (the admin's and the API docs' few inline blocks carry the request's nonce).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", "blob:", *MEDIA_ORIGINS, *CSP_IMG_ORIGINS],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],  # the job WebSockets are same-origin: 'self' covers ws:/wss: (CSP level 3)
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Permissions-Policy (comfyweb.core.headers sends it): browser features no page of this site uses; neither the
# site nor anything it embeds may use them.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "autoplay": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "hid": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "publickey-credentials-get": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}

# --- Media in production: never django.views.static.serve (DEBUG and the loopback demo only). On local
# disk the app checks who may see a file and nginx sends it (X-Accel-Redirect to an `internal` location,
# docs/single-gpu-box.md); on S3 the pages carry presigned URLs that expire.
MEDIA_ACCEL_REDIRECT_PREFIX = env.str("MEDIA_ACCEL_REDIRECT_PREFIX", default="")
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = env.int("MEDIA_URL_EXPIRE", default=3600)
AWS_DEFAULT_ACL = None  # objects stay private: only presigned URLs read them
AWS_S3_SIGNATURE_VERSION = "s3v4"

# --- Login throttling (django-axes): LOGIN_FAILURE_LIMIT wrong passwords for one username from one address
# lock that pair out for LOGIN_LOCKOUT_MINUTES (0: until staff unlock it under Axes › Access attempts).
INSTALLED_APPS += ["axes"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15)) or None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "comfyweb.core.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "comfyweb.core.lockout.lockout_response"
AXES_VERBOSE = False

# --- Logging (operations): plain text by default, JSON lines with LOG_FORMAT=json. Work bound with
# comfyweb.core.logging.bind_job()/bind_task() carries job_id/task_id on every line.
try:
    LOGGING = logging_config(
        env.str("LOG_FORMAT", default="text").strip().lower(),
        env.str("LOG_LEVEL", default="INFO"),
        loggers={
            "django.channels.server": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
            "axes": {"level": "WARNING"},  # lockouts (WARNING) stay; one INFO line per log-in does not
            "botocore": {"level": "WARNING"},  # S3 media: no INFO line about where the endpoint came from
        },
    )
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

# --- Topology hints used by the system checks.
# EMBEDDED_DEV: the loopback-only embedded demo (`make run`, tests) may use the dev secret key.
EMBEDDED_DEV = env.bool("EMBEDDED_DEV", default=False)
WEB_PROCESSES = env.int("WEB_PROCESSES", default=1)

# --- Catalog: how visitors' pictures reach the GPU backends. "data_url" (default) inlines them in
# the prompt; "url" sends links on this site (CATALOG_PUBLIC_URL, e.g. https://comfyweb.example)
# that the agents fetch, which keeps prompts small when backends can reach the web app.
CATALOG_IMAGE_INPUT = env.str("CATALOG_IMAGE_INPUT", default="data_url")
CATALOG_PUBLIC_URL = env.str("CATALOG_PUBLIC_URL", default="")

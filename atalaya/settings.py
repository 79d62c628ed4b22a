"""Django settings, driven by ATALAYA_* environment variables.

Defaults give the embedded mode: SQLite in WAL mode and the job queue's SQLite store
under ``var/``, so a fresh checkout runs with no other server. Production points
ATALAYA_DATABASE_URL at PostgreSQL and ATALAYA_REDIS_URL at Redis.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("ATALAYA_DATA_DIR", BASE_DIR.parent / "var")).resolve()
# The embedded databases and uploads live here; create it so a new ATALAYA_DATA_DIR works.
# A read-only location is fine when every store is configured elsewhere.
with contextlib.suppress(OSError):
    DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("ATALAYA_DEBUG", False)
# The embedded default is for a laptop or a demo; production sets its own key.
SECRET_KEY = os.environ.get("ATALAYA_SECRET_KEY", "atalaya-insecure-development-key-change-me")
ALLOWED_HOSTS = env_list("ATALAYA_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("ATALAYA_CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("ATALAYA_SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "django_htmx",
    "atalaya.core",
    "atalaya.tickets",
    "atalaya.mail",
    "atalaya.comms",
    "atalaya.monitoring",
    "atalaya.billing",
    "atalaya.security",
    "atalaya.kb",
    "atalaya.calls",
    "atalaya.reports",
    "atalaya.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "atalaya.core.middleware.UserLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "atalaya.core.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "atalaya.urls"
WSGI_APPLICATION = "atalaya.wsgi.application"
ASGI_APPLICATION = "atalaya.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "atalaya.comms.context_processors.portal_banners",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("ATALAYA_DATABASE_URL", f"sqlite:///{DATA_DIR / 'atalaya.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers proceed while a writer commits; IMMEDIATE takes the write
        # lock at BEGIN so concurrent writers queue on busy_timeout instead of failing
        # with "database is locked" half-way through a transaction.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("ATALAYA_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env_bool("ATALAYA_BEHIND_TLS_PROXY", False):
    # The reverse proxy terminates TLS and says so in this header; only trust it when
    # the proxy is the sole way in, or any client could claim to be on HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Lock-out: after this many failed logins an account waits LOCKOUT_MINUTES; the same
# limit applies per client address so one machine cannot spray many accounts.
LOGIN_MAX_FAILURES = int(os.environ.get("ATALAYA_LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("ATALAYA_LOGIN_LOCKOUT_MINUTES", "15"))

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Whitenoise serves straight from the apps (USE_FINDERS) until collectstatic fills this.
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.environ.get("ATALAYA_MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "media/"

ATTACHMENT_MAX_BYTES = int(os.environ.get("ATALAYA_ATTACHMENT_MAX_MB", "20")) * 1024 * 1024
ATTACHMENT_ALLOWED_EXTENSIONS = env_list(
    "ATALAYA_ATTACHMENT_EXTENSIONS",
    "pdf,png,jpg,jpeg,gif,webp,txt,log,csv,json,xml,eml,msg,zip,7z,docx,xlsx,pptx,odt,ods,rtf",
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Outgoing mail: smtp://user:password@host:587 (STARTTLS when the server offers it),
# smtps://…:465 (TLS from the start), smtp://host:25?starttls=false for a local relay.
# Empty: mail stays queued in the outbox until it is set (mail/outbox.py).
SMTP_URL = os.environ.get("ATALAYA_SMTP_URL", "")
# A CA bundle to trust for the SMTP and IMAP servers' certificates besides the
# system's (a private CA; the tests' self-signed servers).
MAIL_CA_FILE = os.environ.get("ATALAYA_MAIL_CA_FILE", "")
# The sender of notifications and announcements, and the base of ticket reply
# addresses (support+t1234@…) and of Message-IDs.
MAIL_FROM = os.environ.get("ATALAYA_MAIL_FROM", "Atalaya <support@atalaya.localhost>")
# Largest mail accepted whole; a larger one is kept as a dead letter, never lost.
MAIL_MAX_BYTES = int(os.environ.get("ATALAYA_MAIL_MAX_MB", "40")) * 1024 * 1024
# Announcement mails handed to the SMTP server per second, at most.
ANNOUNCEMENT_RATE_PER_S = float(os.environ.get("ATALAYA_ANNOUNCEMENT_RATE", "50"))

# Monitoring (monitoring/): raw metric samples are kept this many hours, then only
# the 15-minute rollups, for this many days.
METRICS_RAW_HOURS = int(os.environ.get("ATALAYA_METRICS_RAW_HOURS", "48"))
METRICS_ROLLUP_DAYS = int(os.environ.get("ATALAYA_METRICS_ROLLUP_DAYS", "90"))
# The Ed25519 key that signs remote actions; created (mode 0600) on first use. Whoever
# holds it can make every agent run a script, so it lives outside the database.
AGENT_SIGNING_KEY_FILE = Path(
    os.environ.get("ATALAYA_AGENT_SIGNING_KEY_FILE", DATA_DIR / "agent-signing.key")
)
# Largest check-in body accepted from an agent (a spool replay sends many samples).
AGENT_MAX_BODY_BYTES = int(os.environ.get("ATALAYA_AGENT_MAX_BODY_KB", "1024")) * 1024
# The demo's devices check in every minute as if their agents ran (core/demo/fleet.py);
# `make run` turns it on. Real agents enrolled alongside are never touched.
DEMO_FLEET = env_bool("ATALAYA_DEMO_FLEET", False)

REDIS_URL = os.environ.get("ATALAYA_REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("ATALAYA_JOBS_IMMEDIATE", False)
# A resolved ticket the client has not reopened for this many days is closed by the
# hourly job (tickets/tasks.py); 0 turns that off.
TICKET_AUTOCLOSE_DAYS = int(os.environ.get("ATALAYA_AUTOCLOSE_DAYS", "7"))
# Monthly client reports are proposed on the MSP's first working day (ISO weekdays here,
# Spain's national holidays off) and mailed only once a person approves them, unless
# auto-approval is turned on (reports/services.py).
REPORTS_MSP_WORKING_DAYS = os.environ.get("ATALAYA_REPORTS_WORKING_DAYS", "12345")
REPORTS_AUTO_APPROVE = env_bool("ATALAYA_REPORTS_AUTO_APPROVE", False)
# Phone numbers typed without +country are read in the client's country (from its time
# zone) or, when that says nothing, in this one (core/phones.py).
PHONE_REGION = os.environ.get("ATALAYA_PHONE_REGION", "ES").upper()
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "atalaya",
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "atalaya",
        "filename": str(DATA_DIR / "jobs.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

# Sign-in rate limits live in the cache: shared through Redis when several web
# processes run, per process otherwise.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ATALAYA_LOG_LEVEL", "WARNING")},
    # The job worker says what it runs; with a handler here run_huey adds none of its
    # own, so each line is printed once.
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

"""Settings, all from the environment (django-environ).

With no DATABASE_URL the project starts its own PostgreSQL from the `pgserver`
package (see config/embedded_postgres.py) and exports its URL, so processes
started from this one (gunicorn workers, test helpers) share that server.
"""

from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.embedded_postgres import use_database_url
from config.logs import configure as configure_logging

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# DJANGO_ENV=production: secrets have no default, so a missing one fails at boot.
PRODUCTION = env("DJANGO_ENV", default="development") == "production"
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY") if PRODUCTION else env("SECRET_KEY", default="insecure-development-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    # Django's admin with the second step of signing in (config/admin_site.py).
    "config.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "procrastinate.contrib.django",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "sellers",
    "credits",
    "recharges",
    "ledger",
    "idempotency",
    "callbacks",
    "settlement",
    "config",
    "portal",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware for the HTML pages; the API stays English.
    "portal.middleware.PageLocaleMiddleware",
    # Tehran time on the pages; the API stays UTC.
    "portal.middleware.PageTimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who and from where, for the audit trail's triggers (audit/models.py).
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Only writes carry the audit trail's context to PostgreSQL (audit/middleware.py).
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

ROOT_URLCONF = "config.urls"
# CSRF refusals on API paths get the contract's JSON body (config/views.py).
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
# A POST to a URL without its trailing slash gets the JSON 404, not a redirect
# that would silently drop its body.
APPEND_SLASH = False
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

use_database_url(BASE_DIR / ".pgdata")

DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=10000)
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=5000)
# DB_TRANSACTION_POOLING=true: DATABASE_URL is PgBouncer in transaction mode,
# which refuses (or, told to ignore them, drops) startup options: the timeouts
# are then the role's (`manage.py set_role_timeouts`, run once against
# PostgreSQL itself; docs/operations.md), which costs the sale no round trip.
# A server-side cursor would outlive the transaction that lends its connection.
DB_TRANSACTION_POOLING = env.bool("DB_TRANSACTION_POOLING", default=False)


def _database(variable: str) -> dict:
    database = env.db(variable)
    # A Unix-socket URL (postgres://user@/db?host=/socket/dir) comes back with the
    # socket directory in OPTIONS; as HOST, Django and helpers see where it is.
    if "host" in database.get("OPTIONS", {}):
        database["HOST"] = database["OPTIONS"].pop("host")
    database.update(
        {
            # Money moves in short explicit transactions inside the services; a
            # request-wide transaction would hold row locks for the whole request.
            "ATOMIC_REQUESTS": False,
            "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=600),
            # Off: the check is one more round trip per request. A connection that
            # died (database restart) fails one request with a 503, and Django then
            # discards it; clients retry with the same Idempotency-Key.
            "CONN_HEALTH_CHECKS": env.bool("CONN_HEALTH_CHECKS", default=False),
        }
    )
    if DB_TRANSACTION_POOLING:
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        database.setdefault("OPTIONS", {})["options"] = (
            f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS} -c lock_timeout={DB_LOCK_TIMEOUT_MS}"
        )
    return database


DATABASES = {"default": _database("DATABASE_URL")}
# DATABASE_REPLICA_URL: a streaming replica (or a PgBouncer in front of one,
# then with the same DB_TRANSACTION_POOLING) for the listings only, by opting
# in (config/routers.py, docs/scaling.md §3). Unset: everything on `default`.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = _database("DATABASE_REPLICA_URL")
    # Tests need no standby: the replica alias reads the test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["config.routers.ListingReadsToReplica"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LANGUAGES = [("fa", "فارسی"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
# WhiteNoise serves the admin's and Swagger UI's files straight from the
# installed apps under gunicorn: no collectstatic step, no separate web server.
WHITENOISE_USE_FINDERS = True
# The Jalali date picker of Persian pages (portal/forms.py DayInput) is
# django-jalali-date's (admin/js|css/django_jalali.min.*), served from here
# like the admin's files, never from a CDN. Only its files: its Python part
# (widgets always Jalali, template tags that import distutils) is unused, so
# it is no installed app, and it is found without being imported.
STATICFILES_DIRS = [Path(find_spec("jalali_date").origin).parent / "static"]  # type: ignore[union-attr,arg-type]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["sellers.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.JSONOnlyNegotiation",
    # Per-seller rate, e.g. "200/second"; unset (the default) means no limit and no cache access.
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.SellerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"seller": env("SELLER_RATE_LIMIT", default=None)},
    # Proxies in front of the service that append to X-Forwarded-For; 0 (the
    # default) trusts no such header: the client address is REMOTE_ADDR.
    "NUM_PROXIES": env.int("TRUSTED_PROXIES", default=0),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Always microseconds and "Z": the database formats stored responses the same way.
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
}

# API tokens are stored hashed (SHA-512), expire, and staff can revoke or
# rotate them; the header stays `Authorization: Token <key>`.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=365)),
    "AUTH_HEADER_PREFIX": "Token",
}

# Failed authentication is throttled per client address (on by default).
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=30)
AUTH_FAILURE_WINDOW_SECONDS = env.int("AUTH_FAILURE_WINDOW_SECONDS", default=60)

# Throttle counters must be shared by every worker process: Redis when
# REDIS_URL is set, else a PostgreSQL table.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "throttle_cache"}}

# Failed logins through django.contrib.auth (the admin, any later web page)
# are throttled per client address and per username by django-axes; the
# API's tokens never go through authenticate() and keep their own throttle.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_LOCKOUT_SECONDS", default=900))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.throttling.client_address"

# Two-factor sign-in (config/two_factor.py): a TOTP authenticator app after the
# password, recovery codes for a lost phone. "required": every staff user types a
# code (one without an authenticator enrols first) before any admin page;
# "optional": only those who enrolled. Always required in production. Sellers
# turn it on for the portal themselves. API tokens are not concerned.
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
STAFF_TWO_FACTOR = "required" if PRODUCTION else env("STAFF_TWO_FACTOR", default="optional")
if STAFF_TWO_FACTOR not in ("required", "optional"):
    raise ImproperlyConfigured("STAFF_TWO_FACTOR must be required or optional")
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Recharge platform")

SPECTACULAR_SETTINGS = {
    "TITLE": "Recharge platform API",
    "DESCRIPTION": "B2B phone-recharge platform: sellers' credit, top-ups, recharges and ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.openapi.response_headers"],
}

if PRODUCTION:
    DEBUG = False
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
    LANGUAGE_COOKIE_SECURE = True

# One line per event (config/logs.py): JSON in production, readable in development.
LOGGING = configure_logging(
    fmt=env("LOG_FORMAT", default="json" if PRODUCTION else "console"),
    level=env("LOG_LEVEL", default="INFO"),
    library_level=env("LIBRARY_LOG_LEVEL", default="WARNING"),
)

# Delivery to mobile operators (recharges.delivery). A valid number whose
# carrier libphonenumber does not name goes to DEFAULT_OPERATOR.
DEFAULT_OPERATOR = env("DEFAULT_OPERATOR", default="mci")
# Past this age a pending recharge is no longer queried: staff resolve it in the admin.
DELIVERY_HORIZON_SECONDS = env.int("DELIVERY_HORIZON_SECONDS", default=24 * 3600)
# Status queries after an unknown outcome: 1 s, 2 s, 4 s, ... at most this.
DELIVERY_MAX_BACKOFF_SECONDS = env.int("DELIVERY_MAX_BACKOFF_SECONDS", default=300)
# Calls to operators in flight at once, per worker process (each thread keeps its
# own connection to the gateway). In flight / latency bounds a worker's rate: 32 at
# 100 ms is 320/s at most. make bench-delivery runs 2 workers x 128 (the best on
# 2 cores); 32 is gentler on a real gateway's connection limits.
DELIVERY_CONCURRENCY = env.int("DELIVERY_CONCURRENCY", default=32)

# The operator gateway (docs/operators.md): the simulator by default.
OPERATOR_GATEWAY_URL = env("OPERATOR_GATEWAY_URL", default="http://127.0.0.1:8010")
OPERATOR_CONNECT_TIMEOUT = env.float("OPERATOR_CONNECT_TIMEOUT", default=2.0)
OPERATOR_READ_TIMEOUT = env.float("OPERATOR_READ_TIMEOUT", default=5.0)

# Signed callbacks (callbacks app). Private targets (loopback, private, link-local,
# multicast addresses after DNS resolution) are refused in production whatever this says.
CALLBACK_ALLOW_PRIVATE_TARGETS = not PRODUCTION and env.bool("CALLBACK_ALLOW_PRIVATE_TARGETS", default=True)
CALLBACK_TIMEOUT_SECONDS = env.float("CALLBACK_TIMEOUT_SECONDS", default=10.0)
CALLBACK_RETRY_HORIZON_SECONDS = env.int("CALLBACK_RETRY_HORIZON_SECONDS", default=24 * 60 * 60)

# Reports (issue 13): days are calendar days in this zone.
INSTALLED_APPS += ["reports"]
BUSINESS_TIME_ZONE = env("BUSINESS_TIME_ZONE", default="Asia/Tehran")
# Operations (docs/operations.md): request ids, metrics and logs for every
# request, first so that it sees what every other layer answers.
MIDDLEWARE.insert(0, "config.observability.RequestObservabilityMiddleware")
# /metrics: `Authorization: Bearer <METRICS_TOKEN>`; unset, only from the
# machine itself, and never in production.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# /readyz answers 503 when the oldest due pending recharge has waited longer (0: no queue check).
READY_QUEUE_MAX_AGE_SECONDS = env.int("READY_QUEUE_MAX_AGE_SECONDS", default=300)
# The delivery worker's own /metrics (run_worker --metrics-port), for a worker
# that shares no PROMETHEUS_MULTIPROC_DIR with a web server; 0: none.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_HOST = env("WORKER_METRICS_HOST", default="127.0.0.1")
# Where `collectstatic` puts the static files (the image sets it and runs it at
# build); unset, WhiteNoise serves them from the apps (WHITENOISE_USE_FINDERS).
STATIC_ROOT = env("STATIC_ROOT", default=None)

# Four eyes: approving a credit request of more than FOUR_EYES_CREDIT_THRESHOLD
# rials, or an adjustment of more than FOUR_EYES_ADJUSTMENT_THRESHOLD (either
# sign), takes two different staff members; unset, one approval does (v1).
FOUR_EYES_CREDIT_THRESHOLD = env.int("FOUR_EYES_CREDIT_THRESHOLD", default=None)
FOUR_EYES_ADJUSTMENT_THRESHOLD = env.int("FOUR_EYES_ADJUSTMENT_THRESHOLD", default=None)
# A prepayment to an operator's float of more rials than this takes two staff members too.
FOUR_EYES_PREPAYMENT_THRESHOLD = env.int("FOUR_EYES_PREPAYMENT_THRESHOLD", default=None)

# The daily settlement job settles again any of the last this many closed days
# that is not settled yet, or whose last settlement found recharges still pending.
SETTLEMENT_LOOKBACK_DAYS = env.int("SETTLEMENT_LOOKBACK_DAYS", default=7)

# Whether a credit request must name its transfer (bank, tracking number and
# date); off, v1 clients that send none keep working and staff see it flagged.
CREDIT_REQUEST_EVIDENCE_REQUIRED = env.bool("CREDIT_REQUEST_EVIDENCE_REQUIRED", default=False)

# Uploaded files (credit requests' receipts): outside the web root and never
# served statically; credits.api's receipt view serves each to who may see it.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

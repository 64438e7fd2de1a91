"""Test settings: the production settings module with a throwaway key and test-friendly knobs.

The environment still decides the services: .ci/run sets DATABASE_URL / REDIS_URL to the real
PostgreSQL and Redis; without them the embedded SQLite/locmem defaults are used.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("AXES_ENABLED", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")
# The suite renders hundreds of pages a minute from one test client; the throttle tests set their own.
os.environ.setdefault("PAGE_THROTTLE", "1000000/min")
os.environ.setdefault(
    "PITWALL_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)

from f1site.settings import *  # noqa: F403
from f1site.settings import MODEL_STORAGE_PATH  # noqa: F401

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

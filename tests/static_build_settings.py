"""Production settings with STATIC_ROOT redirected, for replaying the image's collectstatic step."""

import os

from f1site.settings import *  # noqa: F403

STATIC_ROOT = os.environ["PITWALL_STATIC_ROOT"]

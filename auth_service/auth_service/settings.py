"""Django settings of the auth service (DJANGO_SETTINGS_MODULE=auth_service.settings).

One module per concern lives in ``auth_service/config/``, all fed by ``config/environment.py``, which reads
every environment variable once.
"""

from .config.api import *  # noqa: F403
from .config.base import *  # noqa: F403
from .config.database import *  # noqa: F403
from .config.jwt import *  # noqa: F403
from .config.logs import *  # noqa: F403
from .config.security import *  # noqa: F403
from .config.throttling import *  # noqa: F403

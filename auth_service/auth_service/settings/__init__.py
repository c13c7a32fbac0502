"""Settings of the auth service, one module per concern, all fed by ``environment`` (read once)."""

from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .database import *  # noqa: F403
from .jwt import *  # noqa: F403
from .logs import *  # noqa: F403
from .security import *  # noqa: F403
from .throttling import *  # noqa: F403

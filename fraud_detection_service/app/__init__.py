"""The fraud detection service's code; `main.py` beside this package creates the app.

`ml_model` and `fastapi_plumbing` are imported from the repository root (the folder above this service;
`/app` in the image), so `uvicorn main:app` works from the service folder without PYTHONPATH.
"""

import sys
from pathlib import Path

_REPOSITORY_ROOT = str(Path(__file__).resolve().parents[2])
if _REPOSITORY_ROOT not in sys.path:
    sys.path.append(_REPOSITORY_ROOT)

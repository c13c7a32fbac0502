"""The auth service's settings, one module per concern; ``auth_service/settings.py`` gathers them."""

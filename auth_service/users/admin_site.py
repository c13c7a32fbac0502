"""The Django admin, with its login form behind the same brute-force guard as the API login.

Installed as ``users.admin_site.GuardedAdminConfig`` in place of ``django.contrib.admin``, so that
``admin.site`` (where users/admin.py registers the models) is a GuardedAdminSite.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class GuardedAdminSite(AdminSite):
    def login(self, request, extra_context=None):
        if request.method != "POST":
            return super().login(request, extra_context)
        # Imported here: this module is loaded with the app registry, before models and DRF may be.
        from auth_service.errors import problem_response

        from . import login_guard

        attempt = login_guard.LoginAttempt.of(request, request.POST.get("username", ""), via="admin")
        wait = login_guard.seconds_to_wait(attempt)
        if wait:  # the password is not looked at while this username+IP (or IP) must wait
            return problem_response(
                request, 429, "rate_limited", f"Too many attempts; try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        response = super().login(request, extra_context)
        if response.status_code == 302:  # logged in, sent on to the admin
            login_guard.succeeded(attempt)
        elif response.status_code == 200:  # the form came back with an error: wrong credentials
            login_guard.failed(attempt)
        return response


class GuardedAdminConfig(AdminConfig):
    default_site = "users.admin_site.GuardedAdminSite"

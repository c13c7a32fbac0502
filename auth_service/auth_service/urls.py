"""Routes: the auth API, admin, OpenAPI. /health/ and /ready/ are answered by auth_service.probes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/auth/", include("users.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

handler400 = "auth_service.errors.bad_request"
handler403 = "auth_service.errors.permission_denied"
handler404 = "auth_service.errors.not_found"
handler500 = "auth_service.errors.server_error"

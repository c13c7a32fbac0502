from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class FraudUserAdmin(UserAdmin):
    """Staff manage customers and analysts here (activate, grant is_staff, reset passwords)."""

    list_display = ("username", "email", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_active", "is_superuser")

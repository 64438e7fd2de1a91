"""django-axes' admin of access attempts, with its one action gated on a permission.

Upstream's "Clean up expired attempts" declares none, so any staff user who can see the list ("view")
could delete rows with it (QA security #1, the same gap as the pipeline's actions). It deletes, so it
needs `axes.delete_accessattempt`, like "Delete selected"; superusers keep it. Upstream's also raised
AttributeError (a 500) on any request axes had not prepared (only login attempts are): it reads
`request.axes_attempt_time`, so the request is prepared first, as axes does for a login."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib import admin

if admin.site.is_registered(AccessAttempt):  # AXES_ENABLE_ADMIN (default True) registered it
    admin.site.unregister(AccessAttempt)

    @admin.register(AccessAttempt)
    class AccessAttemptAdmin(AxesAccessAttemptAdmin):
        @admin.action(
            description=AxesAccessAttemptAdmin.cleanup_expired_attempts.short_description,
            permissions=["delete"],
        )
        def cleanup_expired_attempts(self, request, queryset):
            AxesProxyHandler.update_request(request)  # sets axes_attempt_time, the cool-off's "now"
            return super().cleanup_expired_attempts(request, queryset)

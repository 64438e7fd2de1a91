"""Assertions about the Django admin, driven through the real admin client (a staff superuser, or
a staff user with exactly the permissions a test gives it: `staff_client`)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def assert_admin_cannot_delete(client, obj) -> None:
    """A superuser gets no way to delete `obj` in admin: no "Delete selected" action offered, a
    forged POST of it deletes nothing, the delete view answers 403 and the change page (view only)
    has no delete link and no save button."""
    model = type(obj)
    changelist = _url(model, "changelist")
    response = client.get(changelist)
    assert response.status_code == 200
    action_form = response.context["action_form"]
    offered = [] if action_form is None else [name for name, _ in action_form.fields["action"].choices]
    assert "delete_selected" not in offered
    # the POST the action's confirmation page would send, forged
    response = client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert model.objects.filter(pk=obj.pk).exists()
    if offered:  # with other actions Django says so; with none the POST just lists the rows again
        assert "No action selected." in [str(m) for m in response.context["messages"]]
    delete_url = _url(model, "delete", obj.pk)
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
    response = client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    body = response.content.decode()
    assert delete_url not in body and 'name="_save"' not in body


def staff_client(*perms: str, username: str = "staff") -> Client:
    """A client logged in as a staff user (not a superuser) holding exactly `perms`: "app.codename",
    or "view" for every `view_*` permission there is (the read-only role: QA's `staffview`)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username=username, password=None, is_staff=True)
    for perm in perms:
        if perm == "view":
            user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
            continue
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def offered_actions(client, model) -> list[str]:
    """The actions the changelist's action menu offers the client's user (none: no menu at all)."""
    response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    action_form = response.context["action_form"]
    return [] if action_form is None else [name for name, _ in action_form.fields["action"].choices if name]


def assert_action_refused(client, model, action: str, pks: list) -> None:
    """The client's user is not offered `action`, and a forged POST of it (what the menu would send)
    runs nothing: with other actions offered Django answers "No action selected.", with none it just
    lists the rows again; either way the action is never called, so it says nothing itself."""
    offered = offered_actions(client, model)
    assert action not in offered
    response = client.post(
        _url(model, "changelist"), {"action": action, "_selected_action": pks, "index": 0}, follow=True
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == (["No action selected."] if offered else [])


def action_post(client, model, action: str, pks: list):
    """POST `action` on the rows `pks` from the changelist, following the redirect back to it."""
    return client.post(_url(model, "changelist"), {"action": action, "_selected_action": pks}, follow=True)

"""Assertions about the Django admin, driven through the real admin client (a staff superuser)."""

from __future__ import annotations

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

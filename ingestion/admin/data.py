"""Admin for the F1 data and SyncRun.

Staff can correct a result by hand: saving a RaceResult / SprintResult / QualifyingResult /
PracticeResult here sets `manually_corrected=True`, so later syncs and dump loads keep the row and
record the upstream value in their SyncRun (as a warning) instead of overwriting it; the form refuses
a position (or position order) another car of the session holds, but for a shared drive of the record
(`ClassificationForm`; not for practice). Standings and pit stops, which every sync replaces and
nothing protects, are view only with a note saying so (`_UpstreamOnlyAdmin`).
A race's round is 1 or more (the form says so; `race_round_gte_1`); a race added here gets its id as the
Jolpica sync gives one (`RaceForm`, `race_calendar.race_id_new`). SyncRun is read-only. The "resync race"
action re-fetches the selected races from Jolpica: queued to a worker (`ingestion.services.resync`,
a JobRun to follow), or in the embedded mode run in the request (`ingestion.services.jolpica_sync`).

Both actions need the model's "Can change" permission, not just "view": resync `ingestion.change_race`,
release `ingestion.change_raceresult` / `change_sprintresult` / `change_qualifyingresult` /
`change_practiceresult`.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ingestion.admin.pipeline import ViewOnlyAdmin
from ingestion.models import (
    Circuit,
    Driver,
    DriverStanding,
    PitStop,
    PracticeResult,
    QualifyingResult,
    Race,
    RaceResult,
    RaceWeather,
    Season,
    SprintResult,
    Status,
    SyncRun,
    Team,
    TeamStanding,
    WeatherForecast,
)
from ingestion.models.race import ROUND_ERROR
from ingestion.selectors import classification_holders
from ingestion.services.validation import SHARED_DRIVES_LAST_SEASON, shared_drive

# A link typed without a scheme is taken as https (the stored links are Wikipedia's, served over
# https; the API serves only http(s) links). Also Django 6.0's default: saying so here silences its
# RemovedInDjango60Warning on every form with a URL field.
HTTPS_URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Season)
class SeasonAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ["year", "race_count", "url"]
    search_fields = ["year"]
    # newest first, also in the Race form's season autocomplete: the race count's GROUP BY drops
    # Meta.ordering, and the autocomplete paginated an unordered list (UnorderedObjectListWarning)
    ordering = ["-year"]

    @admin.display(description="races")
    def race_count(self, obj: Season) -> int:
        return obj.race_count

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(race_count=Count("races"))


@admin.register(Circuit)
class CircuitAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ["name", "ref", "locality", "country", "circuit_type", "length_km"]
    list_filter = ["circuit_type", "country"]
    search_fields = ["name", "ref", "locality", "country"]


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ["full_name", "ref", "code", "permanent_number", "nationality", "date_of_birth"]
    list_filter = ["nationality"]
    search_fields = ["given_name", "family_name", "ref", "code"]
    ordering = ["family_name", "given_name"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ["name", "ref", "nationality"]
    list_filter = ["nationality"]
    search_fields = ["name", "ref"]


@admin.register(Status)
class StatusAdmin(admin.ModelAdmin):
    list_display = ["status", "ergast_id"]
    search_fields = ["status"]


class RaceForm(forms.ModelForm):
    """A race added here gets its public id as the Jolpica sync gives one (`race_id_new`); the id is
    read-only and never changes after. It was left empty: the pages failed to link the race (500s),
    the API listed a race with id "" and a second add failed on the empty id (admin review)."""

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            self._race_id_assign(cleaned)
        return cleaned

    def _race_id_assign(self, cleaned: dict) -> None:
        from ingestion.services.race_calendar import race_id_new
        from ingestion.services.race_ids import RaceIdUnavailable

        season, rnd, name, circuit = (cleaned.get(f) for f in ("season", "round", "name", "circuit"))
        if season is None or rnd is None or circuit is None or not name:
            return  # their own field errors say why
        if Race.objects.filter(season=season, round=rnd).exists():
            return  # the (season, round) constraint's form error says it
        try:
            self.instance.slug = race_id_new(
                season=season.pk, round=rnd, name=name, circuit_ref=circuit.ref, country=circuit.country
            )
        except RaceIdUnavailable as exc:
            self.add_error("name", str(exc))


@admin.register(Race)
class RaceAdmin(admin.ModelAdmin):
    form = RaceForm
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = [
        "slug",
        "season",
        "round",
        "name",
        "circuit",
        "date",
        "start",
        "removed_upstream_at",
        "results_link",
    ]
    list_filter = ["season", ("removed_upstream_at", admin.EmptyFieldListFilter)]
    search_fields = ["slug", "name", "circuit__name", "circuit__ref"]
    autocomplete_fields = ["season", "circuit"]
    list_select_related = ["circuit", "season"]
    date_hierarchy = "date"
    ordering = ["-date"]
    readonly_fields = ["slug", "removed_upstream_at"]
    actions = ["resync_race"]
    fieldsets = [
        (None, {"fields": ["slug", "season", "round", "name", "circuit", "date", "start", "url"]}),
        (
            "Weekend sessions (UTC)",
            {
                "fields": [
                    "fp1_start",
                    "fp2_start",
                    "fp3_start",
                    "sprint_qualifying_start",
                    "sprint_start",
                    "qualifying_start",
                ]
            },
        ),
        ("External ids", {"fields": ["ergast_id", "openf1_meeting_key"]}),
        ("Upstream calendar", {"fields": ["removed_upstream_at"]}),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # The unsigned column's form field starts at 0 (and says "greater than or equal to 0" for
        # -1): round 1 is the first, and 0 and below get the model's own message.
        if db_field.name == "round":
            kwargs.update(min_value=1, error_messages={"min_value": ROUND_ERROR})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_deleted_objects(self, objs, request):
        """A race's standings and pit stops (view only: `_UpstreamOnlyAdmin`) go with it, as when the
        sync deletes a cancelled race: they are not a permission the user lacks. Predictions,
        accuracy records and OpenF1 sessions still are (a race with them is not deleted here)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        upstream_only = {
            str(model._meta.verbose_name)
            for model, model_admin in self.admin_site._registry.items()
            if isinstance(model_admin, _UpstreamOnlyAdmin)
        }
        return deleted, counts, perms_needed - upstream_only, protected

    @admin.display(description="results")
    def results_link(self, obj: Race) -> str:
        url = reverse("admin:ingestion_raceresult_changelist") + f"?race__id__exact={obj.pk}"
        return format_html('<a href="{}">results</a>', url)

    @admin.action(description="Resync selected races from Jolpica", permissions=["change"])
    def resync_race(self, request, queryset):
        """With a worker: queue the sync (ingestion.services.resync) and point to its job run — a sync
        in the request outlasted gunicorn's 30 s timeout (46 races took 43.5 s at Jolpica's 4/s).
        In the embedded mode (eager tasks, no worker) it runs here, as before."""
        from f1site.celery import QueueUnavailable
        from ingestion.services.resync import race_rounds, races_resync_enqueue
        from ingestion.tasks import job_enqueue_runs_inline

        # a race upstream no longer lists (flagged by the sync) has nothing to resync: say so
        for slug in queryset.filter(removed_upstream_at__isnull=False).values_list("slug", flat=True):
            self.message_user(
                request,
                f"{slug}: not resynced — no longer on its season's calendar upstream (see removed upstream at)",
                messages.WARNING,
            )
        races = list(
            queryset.filter(removed_upstream_at__isnull=True)
            .select_related(None)
            .only("pk", "slug", "season", "round")
        )
        if not races:
            return None
        if job_enqueue_runs_inline():
            return self._resync_here(request, races)
        what = "resync of " + ", ".join(
            f"{season} rounds {rounds}"
            for season, rounds in race_rounds(race_ids=[r.pk for r in races]).items()
        )
        try:
            run = races_resync_enqueue(races=races)
        except QueueUnavailable as exc:
            self.message_user(request, f"NOT queued: {what}: {exc}", messages.ERROR)
            return
        self.message_user(
            request,
            format_html(
                'Queued: {} from Jolpica. <a href="{}">Job run {}</a> shows when it ran, each season\'s '
                "status and its SyncRun (Sync runs has the details).",
                what,
                reverse("admin:ingestion_jobrun_change", args=[run.pk]),
                run.pk,
            ),
            messages.SUCCESS,
        )

    def _resync_here(self, request, races) -> None:
        """The embedded mode: the sync runs in this request, one `jolpica_sync` per season."""
        from ingestion.clients.http import SourceError
        from ingestion.services.jolpica_sync import SyncAborted, SyncAlreadyRunning
        from ingestion.services.resync import race_ids_by_season, race_resync_season

        pending = sorted(race_ids_by_season(race_ids=[r.pk for r in races]).items())
        for i, (season, pks) in enumerate(pending):
            try:
                # by identity: the races' rounds are read after the sync's calendar step
                entry = race_resync_season(season=season, race_ids=pks)
            except SourceError as exc:
                self.message_user(request, f"{season}: sync failed: {exc}", messages.ERROR)
                continue
            except SyncAlreadyRunning as exc:
                # One writer at a time (sync_f1, the daily/weekly job, another resync or a dump
                # load): the remaining seasons would be refused too. The message names the holder.
                skipped = ", ".join(str(s) for s, _ in pending[i:])
                self.message_user(
                    request,
                    f"Not resynced ({skipped}): {exc.holder} is running. "
                    "Try again when it has finished (see Sync runs).",
                    messages.WARNING,
                )
                return
            except SyncAborted as exc:
                self.message_user(
                    request,
                    f"{season}: sync interrupted ({exc}); races committed so far are kept",
                    messages.ERROR,
                )
                continue
            not_synced = entry.get("not_synced", {})
            ok = entry["status"] == "succeeded" and not not_synced
            # a race no longer on the calendar upstream (or an id conflict) is said here, not only in the run
            self.message_user(
                request,
                f"{season} rounds {entry['rounds']}: {entry['status']} (SyncRun {entry['sync_run']})"
                + "".join(f"; {m}" for m in entry.get("calendar", []))
                + "".join(f"; {m}" for m in entry.get("kept_manual", []))
                + "".join(f"; {slug}: {why}" for slug, why in not_synced.items()),
                messages.SUCCESS if ok else messages.WARNING,
            )


_SESSION_NAMES = {"raceresult": "race", "sprintresult": "sprint", "qualifyingresult": "qualifying"}


def _car_text(driver, number, team) -> str:
    """`Max Verstappen (#33, Red Bull)`: who, in which car, as the position messages name them."""
    car = ", ".join(part for part in (f"#{number}" if number else "", str(team) if team else "") if part)
    return f"{driver or 'this driver'}" + (f" ({car})" if car else "")


class ClassificationForm(forms.ModelForm):
    """A result's form: one position (and position order) per car in a session.

    Only the database's unique constraints guarded positions, and not all of them: `position` has
    none (a second P1 saved) and a race result's `position_order` is unique with `shared_car_index`
    (a second car at order 1 saved under another index); qualifying's refusal named neither position
    nor drivers. Race results may share a position only as a shared drive of the record (same car
    number and team, up to `SHARED_DRIVES_LAST_SEASON`; see `validation.shared_drive`)."""

    def clean(self):
        cleaned = super().clean()
        race = cleaned.get("race")
        if race is None:
            return cleaned
        model = self._meta.model
        fields = ["position"] if model is QualifyingResult else ["position", "position_order"]
        me = _car_text(cleaned.get("driver"), cleaned.get("number"), cleaned.get("team"))
        my_car = (cleaned.get("number"), getattr(cleaned.get("team"), "pk", None))
        values = {f: cleaned[f] for f in fields if cleaned.get(f) is not None}
        rows = classification_holders(
            model=model, race_id=race.pk, values=values, exclude_pk=self.instance.pk
        )
        for field, value in values.items():
            holders = [row for row in rows if getattr(row, field) == value]
            if not holders:
                continue
            cars = [my_car, *((h.number, h.team_id) for h in holders)]
            if model is RaceResult and shared_drive(season=race.season_id, cars=cars):
                if field == "position_order":
                    self._shared_car_index_check(holders, order=value)
                continue
            self.add_error(field, self._clash_message(field, value, me=me, holders=holders))
        return cleaned

    def _clash_message(self, field: str, value: int, *, me: str, holders: list) -> str:
        label = "Position" if field == "position" else "Position order"
        others = " and ".join(_car_text(h.driver, h.number, h.team) for h in holders)
        verb = "holds" if len(holders) == 1 else "hold"
        session = _SESSION_NAMES[self._meta.model._meta.model_name]
        rule = (
            " Two results share a position only as a shared drive, co-drivers of one car as in the 1950s "
            f"records: same car number and team, in {SHARED_DRIVES_LAST_SEASON} or earlier."
            if self._meta.model is RaceResult
            else ""
        )
        return (
            f"{label} {value}: {me} cannot share it with {others}, who already {verb} it in this "
            f"{session}.{rule} To swap two drivers, move one to a free position first."
        )

    def _shared_car_index_check(self, holders: list, *, order: int) -> None:
        """Co-drivers of one car are told apart by `shared_car_index` (the database's unique position
        order is per index): a taken one is named, with the next free one."""
        index = self.cleaned_data.get("shared_car_index")
        taken = {h.shared_car_index: h for h in holders}
        if index in taken:
            free = min(set(range(len(taken) + 1)) - set(taken))
            self.add_error(
                "shared_car_index",
                f"Shared car index {index} at position order {order} is {taken[index].driver}'s (the same "
                f"car): co-drivers of one car take 0, 1, 2, …; give this one {free}.",
            )


class _CorrectableAdmin(admin.ModelAdmin):
    """Results staff may correct (race, sprint, qualifying, practice): saving by hand marks the row as
    a manual correction, which the syncs and dump loads keep (and record) until it is released."""

    list_filter = ["manually_corrected", "race__season"]
    search_fields = ["race__slug", "driver__family_name", "driver__ref", "driver__code"]
    autocomplete_fields = ["race", "driver", "team"]
    list_select_related = ["race", "driver", "team"]
    show_full_result_count = False
    readonly_fields = ["manually_corrected"]
    actions = ["release_manual_correction"]

    def get_queryset(self, request):
        # str(result) names the race and the driver (change page title, messages, delete lists).
        # The changelist skips list_select_related once a select_related is set, so name them all.
        return super().get_queryset(request).select_related(*{"race", "driver", *self.list_select_related})

    def save_model(self, request, obj, form, change):
        obj.manually_corrected = True
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Release manual correction (the next sync may overwrite these rows)",
        permissions=["change"],
    )
    def release_manual_correction(self, request, queryset):
        released = queryset.filter(manually_corrected=True).update(manually_corrected=False)
        self.message_user(request, f"{released} row(s) released; the next sync applies the upstream values.")


class _ClassificationAdmin(_CorrectableAdmin):
    """Shared by the session results. Saving by hand marks the row as a manual correction; the form
    refuses a position another car holds (`ClassificationForm`)."""

    form = ClassificationForm


@admin.register(RaceResult)
class RaceResultAdmin(_ClassificationAdmin):
    list_display = [
        "race",
        "position_order",
        "position_text",
        "driver",
        "team",
        "grid",
        "points",
        "laps",
        "status",
        "manually_corrected",
    ]
    autocomplete_fields = [*_ClassificationAdmin.autocomplete_fields, "status"]
    list_select_related = [*_ClassificationAdmin.list_select_related, "status"]


@admin.register(SprintResult)
class SprintResultAdmin(RaceResultAdmin):
    pass


@admin.register(QualifyingResult)
class QualifyingResultAdmin(_ClassificationAdmin):
    list_display = ["race", "position", "driver", "team", "q1", "q2", "q3", "manually_corrected"]


@admin.register(PracticeResult)
class PracticeResultAdmin(_CorrectableAdmin):
    """A practice result saved here is a manual correction too (the dump load and the OpenF1 ingest,
    `--reingest` included, keep it): the README has staff correct an OpenF1 practice conflict here."""

    list_display = [
        "race",
        "session",
        "position",
        "driver",
        "team",
        "time_text",
        "laps",
        "manually_corrected",
    ]
    list_filter = ["manually_corrected", "session", "race__season"]


class _UpstreamOnlyAdmin(ViewOnlyAdmin):
    """Rows that come from upstream with their race and that every sync replaces (standings, pit
    stops): no `manually_corrected` protects them, so an edit here was silently put back by the next
    `sync_f1` or dump load (admin review: a driver's standing 156 -> 999, back to 156 with no warning).
    View only, for everyone, with `upstream_note` on the list and each row's page. They still go
    with their race when it is deleted (RaceAdmin.get_deleted_objects)."""

    upstream_note = ""
    show_full_result_count = False

    def get_queryset(self, request):
        # str(row) names the race and the driver or team (change page title, delete lists), as the
        # result admins do; the changelist skips list_select_related once a select_related is set
        return super().get_queryset(request).select_related(*self.list_select_related)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"subtitle": self.upstream_note, **(extra_context or {})})

    def get_fieldsets(self, request, obj=None):
        (name, options), *rest = super().get_fieldsets(request, obj)
        return [(name, {**options, "description": self.upstream_note}), *rest]


_STANDINGS_NOTE = (
    "Standings come from upstream (the Jolpica sync, the Ergast dump) and are replaced by each sync, so "
    "they are not edited here. A correction belongs in the race's results (Race / Sprint results), which "
    "every sync keeps; the standings stay upstream's until upstream corrects them."
)


@admin.register(PitStop)
class PitStopAdmin(_UpstreamOnlyAdmin):
    upstream_note = (
        "Pit stops come from upstream (the Jolpica sync, the Ergast dump) and are replaced by each sync, "
        "so they are not edited here."
    )
    list_display = ["race", "driver", "stop", "lap", "duration_text", "milliseconds"]
    list_filter = ["race__season"]
    search_fields = ["race__slug", "driver__family_name", "driver__ref", "driver__code"]
    list_select_related = ["race", "driver"]


@admin.register(DriverStanding)
class DriverStandingAdmin(_UpstreamOnlyAdmin):
    upstream_note = _STANDINGS_NOTE
    list_display = ["race", "position", "driver", "points", "wins"]
    list_filter = ["race__season"]
    search_fields = ["race__slug", "driver__family_name", "driver__ref", "driver__code"]
    list_select_related = ["race", "driver"]


@admin.register(TeamStanding)
class TeamStandingAdmin(_UpstreamOnlyAdmin):
    upstream_note = _STANDINGS_NOTE
    list_display = ["race", "position", "team", "points", "wins"]
    list_filter = ["race__season"]
    search_fields = ["race__slug", "team__name", "team__ref"]
    list_select_related = ["race", "team"]


@admin.register(RaceWeather)
class RaceWeatherAdmin(admin.ModelAdmin):
    list_display = [
        "race",
        "source",
        "samples",
        "air_temperature_mean",
        "rainfall_share",
        "is_wet",
        "fetched_at",
    ]
    list_filter = ["source", "is_wet", "race__season"]
    search_fields = ["race__slug", "race__name"]
    autocomplete_fields = ["race"]
    list_select_related = ["race"]


@admin.register(WeatherForecast)
class WeatherForecastAdmin(admin.ModelAdmin):
    list_display = [
        "race",
        "session",
        "valid_at",
        "fetched_at",
        "air_temperature",
        "precipitation_probability",
    ]
    list_filter = ["session", "source"]
    search_fields = ["race__slug", "race__name"]
    autocomplete_fields = ["race"]
    list_select_related = ["race"]
    date_hierarchy = "fetched_at"


_TABLE_COUNT_KEYS = {"created", "updated", "unchanged", "deleted", "kept_manual"}


def _counts_split(counts) -> tuple[dict[str, dict], dict]:
    """A run's counts as (per-table counts: {table: {created, updated, …}}, everything else)."""
    tables, flat = {}, {}
    for key, value in (counts or {}).items():
        if isinstance(value, dict) and value and set(value) <= _TABLE_COUNT_KEYS:
            tables[key] = value
        else:
            flat[key] = value
    return tables, flat


def _count_text(value, *, most: int = 20) -> str:
    """One count as staff read it: a number or a note as it is, a list as its length and items."""
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:most])
        more = f", … {len(value) - most} more" if len(value) > most else ""
        return f"{len(value)}: {shown}{more}" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


@admin.register(SyncRun)
class SyncRunAdmin(ViewOnlyAdmin):
    """Read-only history of ingestion runs: per-table counts, errors/warnings, resume cursor."""

    list_display = [
        "started_at",
        "source",
        "status",
        "finished_at",
        "changed",
        "requests_made",
        "error_count",
    ]
    list_filter = ["source", "status"]
    search_fields = ["status", "source"]
    date_hierarchy = "started_at"
    fields = [
        "source",
        "status",
        "started_at",
        "finished_at",
        "params",
        "requests_made",
        "counts_table",
        "errors_list",
        "cursor",
    ]
    readonly_fields = fields

    def changelist_view(self, request, extra_context=None):
        """OpenF1 / weather runs whose process died are closed before the list is shown
        (ingestion.services.sync_runs), so a dead run reads `interrupted` with why, not `running`."""
        from ingestion.services.sync_runs import sync_runs_stale_close_quietly

        sync_runs_stale_close_quietly()
        return super().changelist_view(request, extra_context)

    @admin.display(description="created / updated")
    def changed(self, obj: SyncRun) -> str:
        tables, flat = _counts_split(obj.counts)
        if tables:
            return f"{sum(c.get('created', 0) for c in tables.values())} / {sum(c.get('updated', 0) for c in tables.values())}"
        if "created" in flat or "updated" in flat:  # a run counting one table flat (observed weather)
            return f"{flat.get('created', 0)} / {flat.get('updated', 0)}"
        return "-"  # a run whose counts are of another kind (forecasts: races, rows): see the run

    @admin.display(description="errors")
    def error_count(self, obj: SyncRun) -> str:
        """Errors, then warnings apart (a kept manual correction, a missing round): a succeeded run
        with two kept corrections read "2" errors."""
        entries = obj.errors or []
        warnings = sum(1 for e in entries if isinstance(e, dict) and e.get("level") == "warning")
        errors = len(entries) - warnings
        return f"{errors} (+{warnings} warning{'s' if warnings != 1 else ''})" if warnings else str(errors)

    @admin.display(description="counts")
    def counts_table(self, obj: SyncRun) -> str:
        """Every count of the run: per-table counts as a table, the rest (the forecast sync's races,
        rows, empty and note; the observed weather's no_samples list; …) as a list below it."""
        tables, flat = _counts_split(obj.counts)
        parts = []
        if tables:
            rows = [
                (table, *(c.get(k, 0) for k in ("created", "updated", "unchanged", "deleted", "kept_manual")))
                for table, c in tables.items()
            ]
            parts.append(
                format_html(
                    "<table><tr><th>table</th><th>created</th><th>updated</th><th>unchanged</th>"
                    "<th>deleted</th><th>kept manual</th></tr>{}</table>",
                    format_html_join(
                        "",
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        rows,
                    ),
                )
            )
        if flat:
            parts.append(
                format_html(
                    "<ul>{}</ul>",
                    format_html_join(
                        "", "<li><b>{}</b>: {}</li>", ((k, _count_text(v)) for k, v in flat.items())
                    ),
                )
            )
        return format_html_join("", "{}", ((p,) for p in parts)) if parts else "-"

    @admin.display(description="errors and warnings")
    def errors_list(self, obj: SyncRun) -> str:
        if not obj.errors:
            return "-"
        items = [
            (e.get("level", "error"), e.get("message") or json.dumps(e, default=str))
            if isinstance(e, dict)
            else ("error", str(e))
            for e in obj.errors
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li><b>{}</b>: {}</li>", items))

"""The only module that imports label_studio_sdk. Maps its objects to plain dicts and ApiError to
LabelStudioError."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from annotator.errors import LabelStudioError
from annotator.sync_marks import TASK_ID, task_id_of
from db.rubrics import RUBRICS
from db.secrets import mask_text, mask_url

ADJUDICATION_CONFIG = """<View>
  <Header value="Target: $target ($tier tier) | judges: $judge_summary"/>
  <Paragraphs name="dialogue" value="$dialogue" layout="dialogue" nameKey="author" textKey="text"/>
  <Collapse><Panel value="Prototype dialogue"><Text name="prototype" value="$prototype"/></Panel>
  <Panel value="Judge rationales"><Text name="rationales" value="$rationales"/></Panel></Collapse>
  <Choices name="verdict" toName="dialogue" choice="single" required="true" showInline="true">
    <Choice value="accept" hotkey="a"/><Choice value="reject" hotkey="r"/><Choice value="edit" hotkey="e"/>
  </Choices>
  <TextArea name="reason" toName="dialogue" placeholder="Reason (required to reject or edit)" maxSubmissions="1"/>
  <TextArea name="edited" toName="dialogue" rows="8" maxSubmissions="1"
            placeholder="Edited dialogue, one 'Seeker: ...' / 'Recommender: ...' line per turn"/>
</View>"""


def rating_config() -> str:
    ratings = "\n".join(
        f'  <Header value="{r.label}: {r.guidance}" size="6"/>\n'
        f'  <Rating name="{r.key}" toName="response" maxRating="5" required="true"/>' for r in RUBRICS)
    return f"""<View>
  <Paragraphs name="context" value="$context" layout="dialogue" nameKey="author" textKey="text"/>
  <Header value="Response to score"/>
  <Text name="response" value="$response"/>
{ratings}
</View>"""


def label_config(kind: str) -> str:
    """The labeling config of the project for `kind` (adjudication or rating)."""
    return ADJUDICATION_CONFIG if kind == "adjudication" else rating_config()


@dataclass(frozen=True)
class ExportedAnnotation:
    ls_task_id: int
    data: dict[str, Any]
    annotator: str  # the Label Studio user's email (or username)
    result: list[dict[str, Any]]
    cancelled: bool = False
    updated_at: datetime | None = None  # when it was last made or changed (Label Studio's updated_at)


def parse_time(value: Any) -> datetime | None:
    """Label Studio's ISO time ('2026-12-06T10:00:00.123456Z'), in UTC; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def by_lumicrs_id(listed: list[tuple[int, Any, int]]) -> dict[int, list[int]]:
    """(Label Studio id, data, annotations) rows grouped: the task id written in the data -> the Label Studio task
    ids carrying it (signed or not: for counting; sync_marks decides what is ours)."""
    found: dict[int, list[int]] = {}
    for ls_id, data, _ in listed:
        ours = task_id_of(data.get(TASK_ID)) if isinstance(data, dict) else None
        if ours is not None:
            found.setdefault(ours, []).append(ls_id)
    return found


def _annotation_count(task: Any) -> int:
    return int(getattr(task, "total_annotations", 0) or 0) + int(getattr(task, "cancelled_annotations", 0) or 0)


NO_RETRY = {"max_retries": 0}  # an import is not idempotent: never let the SDK resend it on a dropped connection


class LabelStudioAdapter:
    def __init__(self, url: str, api_key: str, *, timeout: float = 120.0, import_timeout: float | None = None,
                 httpx_client: Any = None) -> None:
        self.url = url.rstrip("/")
        self._import_options: dict[str, Any] = {**NO_RETRY, "timeout": import_timeout or timeout}
        self._api_key = api_key
        self._timeout = timeout
        self._httpx_client = httpx_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from label_studio_sdk import LabelStudio

            self._client = LabelStudio(base_url=self.url, api_key=self._api_key, timeout=self._timeout,
                                       httpx_client=self._httpx_client)
        return self._client

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call (pagination included); every failure becomes one LabelStudioError line."""
        from label_studio_sdk.core.api_error import ApiError

        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            body = " ".join(mask_text(str(exc.body), self._api_key or "").split())
            if body.startswith("<"):
                body = "an HTML page, not the API: is LABELSTUDIO_URL the server's root URL?"
            raise LabelStudioError(f"Label Studio at {mask_url(self.url)}: {what} failed (HTTP {exc.status_code}: "
                                   f"{body[:200]})") from exc
        except Exception as exc:  # httpx errors (timeouts, refused, dropped) are not OSError subclasses
            if isinstance(exc, OSError) or type(exc).__module__.startswith(("httpx", "httpcore")):
                reason = " ".join(mask_text(str(exc), self._api_key or "").split())
                never_sent = type(exc).__name__ in ("ConnectError", "ConnectTimeout") or isinstance(
                    exc, ConnectionRefusedError)
                raise LabelStudioError(f"Label Studio at {mask_url(self.url)} unreachable during {what}: "
                                       f"{type(exc).__name__} {reason[:200]}".rstrip(), maybe_done=not never_sent) from exc
            raise

    def ensure_project(self, title: str, label_config: str) -> int:
        """The project titled `title`, made when there is none. Two with that title is an error naming both: which
        one holds the annotations is for a person to say (callers hold the sync lock, so we never make the second)."""
        found = sorted(int(p.id) for p in self._call("list projects", lambda: list(self.client.projects.list()))
                       if p.title == title)
        if len(found) > 1:
            raise LabelStudioError(f"Label Studio at {mask_url(self.url)}: {len(found)} projects are titled {title!r} "
                                   f"(ids {', '.join(map(str, found))}): rename or delete all but one")
        if found:
            return found[0]
        created = self._call("create project", self.client.projects.create, title=title, label_config=label_config)
        return int(created.id)

    def project_tasks(self, project_id: int) -> list[tuple[int, Any, int]]:
        """(Label Studio task id, its data, annotations incl. cancelled) for every task of the project."""
        def fetch() -> list[Any]:
            return list(self.client.tasks.list(project=project_id, fields="task_only", page_size=1000))

        return [(int(task.id), task.data, _annotation_count(task)) for task in self._call("list tasks", fetch)]

    def annotation_count(self, ls_task_id: int) -> int:
        """Annotations (cancelled included) a task holds now: asked again right before a copy is deleted."""
        return _annotation_count(self._call("read task", self.client.tasks.get, id=str(ls_task_id)))

    def tasks_by_lumicrs_id(self, project_id: int) -> dict[int, list[int]]:
        """Our task id (data.lumicrs_task_id) -> the project's Label Studio task ids carrying it."""
        return by_lumicrs_id(self.project_tasks(project_id))

    def delete_task(self, ls_task_id: int) -> None:
        self._call("delete task", self.client.tasks.delete, id=str(ls_task_id))

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        if not tasks:
            return []
        response = self._call("import tasks", self.client.projects.import_tasks, id=project_id, request=tasks,
                              return_task_ids=True, request_options=self._import_options)
        ids = [int(i) for i in response.task_ids]
        if len(ids) != len(tasks):
            raise LabelStudioError(f"Label Studio at {mask_url(self.url)}: import tasks returned {len(ids)} ids for "
                                   f"{len(tasks)} tasks")
        return ids

    def user_emails(self) -> dict[int, str]:
        return {int(u.id): str(u.email or u.username)
                for u in self._call("list users", lambda: list(self.client.users.list()))}

    def export_annotations(self, project_id: int) -> list[ExportedAnnotation]:
        """Every annotation of the project, cancelled (skipped) ones flagged."""
        tasks = self._call("export", lambda: list(self.client.projects.exports.as_json(
            project_id, download_kwargs={"download_all_tasks": True})))
        emails = self.user_emails()
        out = []
        for task in tasks:
            for annotation in task.get("annotations", []):
                who = annotation.get("completed_by")
                user_id = who.get("id") if isinstance(who, dict) else who
                out.append(ExportedAnnotation(int(task["id"]), task.get("data", {}),
                                              emails.get(int(user_id), f"labelstudio-user-{user_id}"),
                                              annotation.get("result", []), bool(annotation.get("was_cancelled")),
                                              parse_time(annotation.get("updated_at") or annotation.get("created_at"))))
        return out

    def annotate(self, ls_task_id: int, result: list[dict[str, Any]], completed_by: int | None = None,
                 was_cancelled: bool = False) -> int:
        """Create an annotation (what a person does in the Label Studio UI); used by tests and scripts."""
        kwargs: dict[str, Any] = {"id": ls_task_id, "result": result}
        if completed_by is not None:
            kwargs["completed_by"] = completed_by
        if was_cancelled:
            kwargs["was_cancelled"] = True
        return int(self._call("annotate", self.client.annotations.create, **kwargs).id)

    def delete_annotation(self, annotation_id: int) -> None:
        self._call("delete annotation", self.client.annotations.delete, id=annotation_id)

    def create_user(self, email: str) -> int:
        user = self._call("create user", self.client.users.create, email=email, username=email.split("@")[0])
        return int(user.id)

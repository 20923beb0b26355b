"""The only module that imports label_studio_sdk. Maps its objects to plain dicts and ApiError to
LabelStudioError."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotator.errors import LabelStudioError
from db.rubrics import RUBRICS

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
    annotator: str
    result: list[dict[str, Any]]


class LabelStudioAdapter:
    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self._api_key = api_key
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from label_studio_sdk import LabelStudio

            self._client = LabelStudio(base_url=self.url, api_key=self._api_key)
        return self._client

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        from label_studio_sdk.core.api_error import ApiError

        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            raise LabelStudioError(f"Label Studio {what} failed ({exc.status_code}): {exc.body}") from exc
        except OSError as exc:
            raise LabelStudioError(f"Label Studio at {self.url} unreachable during {what}: {exc}") from exc
        except Exception as exc:  # httpx errors are not OSError subclasses
            if type(exc).__module__.startswith("httpx"):
                raise LabelStudioError(f"Label Studio at {self.url} unreachable during {what}: {exc}") from exc
            raise

    def ensure_project(self, title: str, label_config: str) -> int:
        for project in self._call("list projects", self.client.projects.list):
            if project.title == title:
                return int(project.id)
        created = self._call("create project", self.client.projects.create, title=title, label_config=label_config)
        return int(created.id)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        if not tasks:
            return []
        response = self._call("import tasks", self.client.projects.import_tasks, id=project_id, request=tasks,
                              return_task_ids=True)
        return [int(i) for i in response.task_ids]

    def user_emails(self) -> dict[int, str]:
        return {int(u.id): str(u.email or u.username) for u in self._call("list users", self.client.users.list)}

    def export_annotations(self, project_id: int) -> list[ExportedAnnotation]:
        tasks = self._call("export", self.client.projects.exports.as_json, project_id,
                           download_kwargs={"download_all_tasks": True})
        emails = self.user_emails()
        out = []
        for task in tasks:
            for annotation in task.get("annotations", []):
                if annotation.get("was_cancelled"):
                    continue
                who = annotation.get("completed_by")
                user_id = who.get("id") if isinstance(who, dict) else who
                out.append(ExportedAnnotation(int(task["id"]), task.get("data", {}),
                                              emails.get(int(user_id), f"labelstudio-user-{user_id}"),
                                              annotation.get("result", [])))
        return out

    def annotate(self, ls_task_id: int, result: list[dict[str, Any]], completed_by: int | None = None) -> int:
        """Create an annotation (what a person does in the Label Studio UI); used by tests and scripts."""
        kwargs: dict[str, Any] = {"id": ls_task_id, "result": result}
        if completed_by is not None:
            kwargs["completed_by"] = completed_by
        return int(self._call("annotate", self.client.annotations.create, **kwargs).id)

    def create_user(self, email: str) -> int:
        user = self._call("create user", self.client.users.create, email=email, username=email.split("@")[0])
        return int(user.id)

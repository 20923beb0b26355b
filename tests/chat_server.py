"""A real HTTP server speaking OpenAI chat completions, for tests. Behaviour is chosen by model name:

gen-ok          a JSON dialogue recommending the title quoted in the prompt (varies with `seed`)
gen-copy        returns the prototype dialogue from the prompt almost verbatim (a near-duplicate)
gen-junk        prose, no dialogue
judge-pass      valid scores 4/4/4, pass
judge-fail      valid scores 2/3/2, fail
judge-junk      not JSON
judge-range     JSON with out-of-range scores
rate-ok         five rubric scores (4,3,5,2,3)
relevance-ok    candidate 1 -> 4, 2 -> 3.5, 3 -> 1 (and an out-of-range candidate 99, to be ignored)
flaky-*         HTTP 500 for the first 2 requests of each distinct body, then behaves as '*'
slow-*          sleeps 0.3 s, then behaves as '*'
sleepy-*        sleeps 1.5 s, then behaves as '*'
limited-*       HTTP 429 with `Retry-After: 1` for the first request of each distinct body, then behaves as '*'
nojsonschema-*  HTTP 500 when asked for response_format json_schema (as llama.cpp does), else behaves as '*'
down            always HTTP 503
silent          never answers (holds the connection for 60 s)
drip            sends headers, then one byte of body every 0.5 s for 60 s
notjson         HTTP 200 with an HTML body
bad             HTTP 400 (a request the server refuses)
denied          HTTP 401 (forbidden: 403, missing: 404)
noformat-*      HTTP 500 whenever a response_format is asked for, else behaves as '*'
POST /v1/completions continues a few-shot prompt with 'gen-ok'-like turns ('Seeker: ...' lines).
GET /v1/models lists one model owned by `owner` (default 'openai'; 'me' is what llama.cpp's server says; 'broken'
answers 500); `model_listings` counts those requests.
`request_log` keeps (model, monotonic time, request body) of every POST.
A '#suffix' is ignored, so 'judge-pass#1' and 'judge-pass#2' are two judges that behave alike.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TITLE_RE = re.compile(r'recommends "([^"]+)"')
PROTO_RE = re.compile(r"Prototype dialogue to follow.*?:\n(.*?)\n\n", re.S)


def _generate(prompt: str, seed: int) -> str:
    title = (TITLE_RE.search(prompt) or [None, "Some Movie"])[1]
    tastes = ["quiet dramas", "big action", "clever comedies", "slow mysteries", "weird indies"]
    turns = [
        {"role": "seeker", "text": f"Hi, I am into {tastes[seed % 5]} lately. Variation {seed}."},
        {"role": "recommender", "text": f"Then you might love {title.rsplit(' (', 1)[0]}, it fits that mood."},
        {"role": "seeker", "text": "Never heard of it, why that one?"},
        {"role": "recommender", "text": "The characters are memorable and the ending stays with you."},
        {"role": "seeker", "text": "Great, I'll watch it this weekend."},
    ]
    return json.dumps({"turns": turns})


def _copy(prompt: str) -> str:
    match = PROTO_RE.search(prompt)
    return match.group(1) if match else "Seeker: hi\nRecommender: hello"


REPLIES = {
    "judge-pass": lambda p, s: json.dumps({"semantic_consistency": 4, "fluency": 4, "plausibility": 4, "pass": True,
                                           "rationale": "Coherent and natural."}),
    "judge-fail": lambda p, s: "```json\n" + json.dumps({"semantic_consistency": 2, "fluency": 3, "plausibility": 2,
                                                         "pass": False, "rationale": "Off topic."}) + "\n```",
    "judge-junk": lambda p, s: "Looks fine to me!",
    "judge-range": lambda p, s: json.dumps({"semantic_consistency": 9, "fluency": 4, "plausibility": 4}),
    "rate-ok": lambda p, s: json.dumps({"logical_persuasiveness": 4, "informativeness": 3, "lifelikeness": 5,
                                        "long_tail_relevance": 2, "diversity": 3}),
    "relevance-ok": lambda p, s: json.dumps({"scores": {"1": 4, "2": 3.5, "3": 1, "99": 4}}),
    "gen-ok": lambda p, s: _generate(p, s),
    "gen-copy": lambda p, s: _copy(p),
    "gen-junk": lambda p, s: "Sorry, I cannot help with that.",
}


def is_probe(response_format: dict[str, Any] | None) -> bool:
    schema = (response_format or {}).get("schema") or (response_format or {}).get("json_schema", {}).get("schema", {})
    return bool(schema) and schema.get("title") == "Probe"


class ChatServer:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bodies: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.request_log: list[tuple[str, float, dict[str, Any]]] = []
        self.model_listings = 0
        self.owner = "openai"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def calls(self, model: str) -> int:
        """Requests for `model`, not counting the one-off structured-output probes."""
        with self.lock:
            return sum(m == model and not is_probe(r.get("response_format")) for m, _, r in self.request_log)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> ChatServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                with server.lock:
                    server.model_listings += 1
                if server.owner == "broken":
                    self._send(500, {"error": {"message": "no model list here"}})
                    return
                self._send(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": server.owner}]})

            def _fault(self, behaviour: str) -> bool:
                """Answer with a fault; True when the request is done."""
                if behaviour == "silent":
                    time.sleep(60)
                    return True
                if behaviour == "drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    for _ in range(120):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.5)
                    return True
                if behaviour == "notjson":
                    body = b"<html>gateway page</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return True
                codes = {"down": 503, "bad": 400, "denied": 401, "forbidden": 403, "missing": 404}
                if behaviour in codes:
                    self._send(codes[behaviour], {"error": {"message": f"{behaviour} on purpose"}})
                    return True
                return False

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(raw)
                model = request["model"]
                with server.lock:
                    server.requests[model] += 1
                    server.bodies[raw.decode()] += 1
                    attempt = server.bodies[raw.decode()]
                    server.request_log.append((model, time.monotonic(), request))
                behaviour = model.split("#", 1)[0]  # 'judge-pass#2' behaves as 'judge-pass'
                if self._fault(behaviour):
                    return
                if self.path.endswith("/completions") and not self.path.endswith("/chat/completions"):
                    self._complete_text(request)
                    return
                if behaviour.startswith("flaky-"):
                    behaviour = behaviour[len("flaky-"):]
                    if attempt <= 2:
                        self._send(500, {"error": {"message": "transient"}})
                        return
                if behaviour.startswith("limited-"):
                    behaviour = behaviour[len("limited-"):]
                    if attempt <= 1:
                        body = json.dumps({"error": {"message": "slow down"}}).encode()
                        self.send_response(429)
                        self.send_header("Retry-After", "1")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                if behaviour.startswith("nojsonschema-"):
                    behaviour = behaviour[len("nojsonschema-"):]
                    if (request.get("response_format") or {}).get("type") == "json_schema":
                        self._send(500, {"error": {"message": "response_format json_schema not supported"}})
                        return
                if behaviour.startswith("noformat-"):
                    behaviour = behaviour[len("noformat-"):]
                    if request.get("response_format"):
                        self._send(500, {"error": {"message": "response_format not supported"}})
                        return
                for prefix, pause in (("slow-", 0.3), ("sleepy-", 1.5)):
                    if behaviour.startswith(prefix):
                        behaviour = behaviour[len(prefix):]
                        time.sleep(pause)
                prompt = "\n".join(m["content"] for m in request["messages"])
                text = REPLIES.get(behaviour, REPLIES["judge-junk"])(prompt, int(request.get("seed") or 0))
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                              "total_tokens": len(prompt.split()) + len(text.split())},
                })

            def _complete_text(self, request: dict[str, Any]) -> None:
                seed = int(request.get("seed") or 0)
                text = (f" I like weird indies, variation {seed}.\nRecommender: Then try the one in the prompt."
                        "\nSeeker: Thanks, I will!")
                self._send(200, {"id": "cmpl-test", "object": "text_completion", "created": 0, "model": request["model"],
                                 "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}})

        return Handler

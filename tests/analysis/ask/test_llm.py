"""Optional language-model phrasing against a stub OpenAI-compatible server on 127.0.0.1: its text is shown only
when every number in it is among the answer's facts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from analysis.ask import llm

QUESTION = "Where do we rank?"


class Stub(BaseHTTPRequestHandler):
    reply = None  # callable(request payload) -> assistant text
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.seen.append((self.path, self.headers.get("Authorization"), body))
        text = Stub.reply(body)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    srv = HTTPServer(("127.0.0.1", 0), Stub)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    monkeypatch.setenv(llm.ENV_URL, f"http://127.0.0.1:{srv.server_port}/v1")
    monkeypatch.setenv(llm.ENV_MODEL, "stub-model")
    monkeypatch.setenv(llm.ENV_KEY, "k123")
    Stub.seen = []
    yield srv
    srv.shutdown()
    srv.server_close()


def _facts_of(body):
    return json.loads(body["messages"][1]["content"])["facts"]


def test_off_by_default(asker, monkeypatch):
    for k in (llm.ENV_URL, llm.ENV_MODEL, llm.ENV_KEY):
        monkeypatch.delenv(k, raising=False)
    a = asker.ask(QUESTION, trust="RFF")
    assert a.phrased_by == "template" and not a.note


def test_grounded_phrasing_is_shown(asker, server):
    def reply(body):
        f = next(x for x in _facts_of(body) if x["key"].endswith("rank.national"))
        lo, hi = f["interval95"]
        return f"Nationally we sit around {f['value']}, somewhere between {lo} and {hi}."

    Stub.reply = staticmethod(reply)
    a = asker.ask(QUESTION, trust="RFF")
    assert a.phrased_by == "language model stub-model" and a.text.startswith("Nationally we sit around")
    path, auth, body = Stub.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer k123" and body["model"] == "stub-model"
    assert all("source" in f for f in _facts_of(body))


def test_invented_number_falls_back_to_the_template(asker, server):
    Stub.reply = staticmethod(lambda body: "You are ranked 3 of 129 and could save £4.2m.")
    template = asker.ask(QUESTION, trust="RFF", llm=False).text
    a = asker.ask(QUESTION, trust="RFF")
    assert a.text == template and a.phrased_by == "template"
    assert "not among the facts" in a.note and "£4.2m" in a.note


def test_unreachable_endpoint_falls_back(asker, monkeypatch):
    monkeypatch.setenv(llm.ENV_URL, "http://127.0.0.1:9/v1")  # discard port: nothing listens
    monkeypatch.setenv(llm.ENV_MODEL, "m")
    a = asker.ask(QUESTION, trust="RFF")
    assert a.phrased_by == "template" and "could not be used" in a.note

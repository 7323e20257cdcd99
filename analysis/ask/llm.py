"""Optional phrasing of an answer by a language model behind an OpenAI-compatible endpoint.

Off unless the user sets ``SVI_ASK_LLM_URL`` (the API base, e.g. ``http://127.0.0.1:8000/v1``) and
``SVI_ASK_LLM_MODEL`` (``SVI_ASK_LLM_KEY`` if the endpoint wants a key).  The model receives the question, the
template answer and its facts (each number as formatted, with its interval and source), and is asked to rephrase
without adding numbers.  Its text replaces the template only if every number in it is among the facts; otherwise
the template is shown with a note.  Nothing is downloaded or needed by default; the standard library does the HTTP.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

ENV_URL, ENV_MODEL, ENV_KEY = "SVI_ASK_LLM_URL", "SVI_ASK_LLM_MODEL", "SVI_ASK_LLM_KEY"
TIMEOUT = 30.0

SYSTEM = ("You rephrase answers for the board of an NHS trust in plain, short English. Use only the facts given. "
          "Write every number exactly as it appears in the facts (same rounding, sign and units); do not compute, "
          "round or add numbers. Keep the intervals. Do not add advice.")


def configured() -> bool:
    return bool(os.environ.get(ENV_URL) and os.environ.get(ENV_MODEL))


def request(answer) -> str:
    """The model's text for ``answer`` (raises OSError/ValueError on any failure)."""
    url = os.environ[ENV_URL].rstrip("/") + "/chat/completions"
    payload = {"model": os.environ[ENV_MODEL], "temperature": 0,
               "messages": [{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": json.dumps({
                                "question": answer.question, "template_answer": answer.text,
                                "facts": [f.as_dict() for f in answer.facts]}, ensure_ascii=False)}]}
    headers = {"Content-Type": "application/json"}
    if os.environ.get(ENV_KEY):
        headers["Authorization"] = f"Bearer {os.environ[ENV_KEY]}"
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        doc = json.loads(resp.read().decode("utf-8"))
    text = doc["choices"][0]["message"]["content"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty reply")
    return text.strip()


def maybe_rephrase(answer) -> None:
    """Replace ``answer.text`` by the model's phrasing when configured and grounded; else leave it, with a note."""
    if not configured():
        return
    from analysis.ask.facts import ungrounded

    try:
        text = request(answer)
    except (OSError, ValueError, KeyError, IndexError, TypeError, urllib.error.URLError) as exc:
        answer.note = f"the language model at {os.environ[ENV_URL]} could not be used ({type(exc).__name__}); " \
                      "this is the template answer"
        return
    bad = ungrounded(text, answer.facts, answer.quoted)
    if bad:
        answer.note = ("the language model's phrasing was not shown because it held numbers not among the facts "
                       f"({', '.join(bad[:5])}); this is the template answer")
        return
    answer.text = text
    answer.phrased_by = f"language model {os.environ[ENV_MODEL]}"

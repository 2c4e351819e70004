"""An OpenAI-compatible stand-in judge on loopback, started by the tests themselves.

It answers ``POST /v1/chat/completions`` like a real judge would, in the reply format our
prompts ask for, with scores that are a fixed function of each answer's text (so every
number a test expects can be computed), and it can misbehave on demand:

* ``script``: actions for the next requests, in order: ``"429"``, ``"500"``, ``"slow"``
  (sleeps ``slow_s`` before answering), ``"garbage"`` (a reply with no scores), ``"400"``
  (request refused), ``"401"`` (refused, echoing the Authorization header back as some
  servers do), ``"ok"``;
* ``delay``: seconds every request takes (to kill a run half way);
* ``position_bias``: points added to whichever answer is shown first (Assistant 1);
* any answer containing ``GARBAGE`` gets a reply with no scores.

MT-Bench's judge prompts (FastChat's ``judge_prompts.jsonl``, told apart by their answer
markers) get MT-Bench's reply formats: ``Rating: [[n]]`` for single-answer grading (the last
answer of the conversation shown, rated with :func:`mtbench_rating`) and ``[[A]]``, ``[[B]]``
or ``[[C]]`` for pairwise, by the same rating of the two assistants' last answers
(:func:`mtbench_reply`).

It records every request (headers and body) and the most requests it had in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ANSWER = re.compile(r"\[The Start of Assistant ([12])'s \w+\]\n(.*?)\n\[The End of Assistant \1's", re.DOTALL)
SUMMARY_OFFSETS = (0, -1, 1, 0)
_MT_SINGLE = re.compile(r"\[The Start of Assistant's Answer\]\n(.*?)\n\[The End of Assistant's Answer\]", re.DOTALL)
_MT_PAIR = re.compile(r"\[The Start of Assistant ([AB])'s Answer\]\n(.*?)\n\[The End of Assistant \1's Answer\]", re.DOTALL)
_MT_CONVERSATION = re.compile(
    r"<\|The Start of Assistant ([AB])'s Conversation with User\|>(.*?)<\|The End of Assistant \1's", re.DOTALL)  # coherence, consistency, fluency, relevance


def answer_score(text: str) -> int:
    """The stand-in's quality score of one answer: 1 + distinct words / 4, at most 10."""
    return min(10, 1 + len(set(text.lower().split())) // 4)


def criterion_scores(text: str, criteria: int) -> list[int]:
    base = answer_score(text)
    if criteria == 1:
        return [base]
    return [max(1, min(10, base + d)) for d in SUMMARY_OFFSETS]


def mtbench_rating(text: str) -> int:
    """The stand-in's 1-10 rating of an MT-Bench answer: 1 + its length in characters mod 10
    (it varies even over the tiny random model's short answers)."""
    return 1 + len(text) % 10


def _last_answer(conversation: str, who: str) -> str:
    """The second answer of a ``### User: / ### Assistant X:`` transcript (MT-Bench multi-turn)."""
    return conversation.split(f"### Assistant {who}:\n")[2].split("\n\n### User:")[0].strip()


def mtbench_reply(user: str, position_bias: int = 0) -> str | None:
    """The reply to an MT-Bench judge prompt, or None when ``user`` is not one."""
    conversations = dict(_MT_CONVERSATION.findall(user))
    if conversations:
        answers = {who: _last_answer(text, who) for who, text in conversations.items()}
    else:
        single = _MT_SINGLE.search(user)
        answers = {"A": single.group(1)} if single else dict(_MT_PAIR.findall(user))
    if not answers:
        return None
    if any("GARBAGE" in a for a in answers.values()):
        return "Both answers have merits; I cannot decide."
    if set(answers) == {"A"}:
        return f"The answer is judged on its wording. Rating: [[{mtbench_rating(answers['A'])}]]"
    first, second = mtbench_rating(answers["A"]) + position_bias, mtbench_rating(answers["B"])
    return f"Assistant A and B compared. [[{'A' if first > second else 'B' if second > first else 'C'}]]"


class StandInJudge:
    """Context manager running the stand-in on ``127.0.0.1`` (a free port)."""

    def __init__(self, *, delay: float = 0.0, slow_s: float = 2.0, position_bias: int = 0):
        self.delay = delay
        self.slow_s = slow_s
        self.position_bias = position_bias
        self.script: deque[str] = deque()
        self.requests: list[dict] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # clients that timed out and left
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> StandInJudge:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def settle(self, quiet_s: float = 0.3, timeout: float = 10.0) -> int:
        """Wait until no request is in flight or arriving for ``quiet_s``; the request count."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                count, busy = len(self.requests), self._in_flight
            if count != seen or busy:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
            time.sleep(0.02)
        return seen

    def reply_for(self, user: str) -> str:
        """The reply text a well-behaved judge gives to a user message of our prompts (or MT-Bench's)."""
        mtbench = mtbench_reply(user, self.position_bias)
        if mtbench is not None:
            return mtbench
        answers = dict(_ANSWER.findall(user))
        if set(answers) != {"1", "2"} or any("GARBAGE" in a for a in answers.values()):
            return "I am unable to compare these two answers."
        criteria = 4 if "coherence" in user else 1
        first = [min(10, s + self.position_bias) for s in criterion_scores(answers["1"], criteria)]
        second = criterion_scores(answers["2"], criteria)
        lines = [f"{a} {b}" for a, b in zip(first, second, strict=True)]
        return "\n".join(lines) + "\nAssistant 1 and Assistant 2 were compared on the points above."

    def _handler(self):
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with judge._lock:
                    judge.requests.append({"headers": dict(self.headers), "body": body})
                    action = judge.script.popleft() if judge.script else "ok"
                    judge._in_flight += 1
                    judge.max_in_flight = max(judge.max_in_flight, judge._in_flight)
                try:
                    if self.path != "/v1/chat/completions":
                        return self._send(404, {"error": {"message": f"no route {self.path}"}})
                    time.sleep(judge.delay)
                    if action == "429":
                        return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                    if action == "500":
                        return self._send(500, {"error": {"message": "internal error"}})
                    if action == "400":
                        return self._send(400, {"error": {"message": "prompt exceeds the context window"}})
                    if action == "401":
                        echo = self.headers.get("Authorization", "")
                        return self._send(401, {"error": {"message": f"invalid credentials: {echo}"}})
                    if action == "slow":
                        time.sleep(judge.slow_s)
                    user = body["messages"][-1]["content"]
                    text = "Scores follow later." if action == "garbage" else judge.reply_for(user)
                    self._send(200, {
                        "id": "standin", "object": "chat.completion", "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text}}],
                    })
                finally:
                    with judge._lock:
                        judge._in_flight -= 1

        return Handler

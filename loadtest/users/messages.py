"""What a virtual user types, per kind: the scenario's ``workload.kinds.<kind>.message`` (pure, no I/O).

A bot botcap did not write may know no command at all; each kind therefore says what it sends (a
command, free text of N characters, a button press). A kind without ``message`` sends the reference
bot's text when the kind is one of its four, free text otherwise. Every text (or callback data) ends
with the request's marker ``#r<hex>``: the fake Claude API finds it in the prompt and links the call to
its request (``loadtest/fakes/claude/calls.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

# the reference staging bot routes by these texts (CONTRACTS: kinds by text)
REFERENCE_TEXTS = {
    "command": "/notes",
    "note": "/note buy oat milk and {n} lemons",
    "chat_simple": "what should I cook tonight with {n} eggs?",
    "chat_deep": "/deep compare three ways to learn {n} new words a day",
}
_WORDS = ("tell me something useful about planning a small garden with tomatoes herbs and a few "
          "flowers that bees like while keeping the watering simple on a balcony ")


@dataclass(frozen=True)
class Message:
    """One message to send: ``type`` text (commands are text) or callback, and its text/data."""

    type: str
    text: str


def free_text(chars: int, n: int) -> str:
    """``chars`` characters of plain words (never a command), varied by ``n``."""
    head = f"question {n}: "
    body = (_WORDS * (chars // len(_WORDS) + 2))[(n * 7) % len(_WORDS):]
    return (head + body)[:max(1, chars)].rstrip() or "hello"


def message_for(kind: str, spec, n: int, marker: str) -> Message:
    """The message of ``kind`` (``spec``: the scenario's KindMessage or None) with ``marker`` appended."""
    if spec is None:
        template = REFERENCE_TEXTS.get(kind)
        text = template.format(n=n) if template is not None else free_text(60, n)
        return Message("text", f"{text} {marker}")
    if spec.type == "callback":
        return Message("callback", f"{spec.text}{marker}")
    text = spec.text.replace("{n}", str(n)) if spec.text else free_text(spec.chars, n)
    return Message("text", f"{text} {marker}")


def parse_mix(text: str, kinds: dict) -> tuple[dict[str, float], dict[str, dict]]:
    """``--mix 'chat=0.7:text 120,help=0.3:/help'`` → (shares normalised, {kind: message dict}).

    Each entry is ``KIND=SHARE`` with an optional ``:MESSAGE``: ``text N`` (free text of N characters),
    ``/command args`` (a command), ``callback DATA`` (a button press), anything else = that exact
    text. A kind not in the scenario is added by the harness (``external.with_mix``), its stages copied
    from the reference kind most like it (calibration then fits its numbers). ValueError names the bad
    entry.
    """
    shares: dict[str, float] = {}
    messages: dict[str, dict] = {}
    for entry in [e.strip() for e in text.split(",") if e.strip()]:
        head, _, msg = entry.partition(":")
        kind, eq, share_text = head.partition("=")
        kind = kind.strip()
        if not eq or not kind:
            raise ValueError(f"--mix: {entry!r} is not KIND=SHARE[:MESSAGE] (e.g. 'chat=1:text 80')")
        try:
            share = float(share_text)
        except ValueError:
            raise ValueError(f"--mix: {entry!r}: share must be a number "
                             f"(got {share_text.strip()!r})") from None
        if not share >= 0 or share == float("inf"):
            raise ValueError(f"--mix: {entry!r}: share must be >= 0 (got {share_text.strip()})")
        shares[kind] = shares.get(kind, 0.0) + share
        if msg.strip():
            messages[kind] = _checked(_message_spec(msg.strip(), entry), entry)
    total = sum(shares.values())
    if not shares or total <= 0:
        raise ValueError(f"--mix: at least one kind needs a share > 0 (got {text!r})")
    return {k: v / total for k, v in shares.items() if v > 0}, messages


def _checked(spec: dict, entry: str) -> dict:
    """The spec as the scenario's schema will judge it (so a bad one is refused before any load)."""
    from pydantic import ValidationError

    from botcap.scenario.model import KindMessage
    try:
        KindMessage(**spec)
    except ValidationError as e:
        why = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"--mix: {entry!r}: {why}") from None
    return spec


def _message_spec(msg: str, entry: str) -> dict:
    if msg.startswith("/"):
        return {"type": "command", "text": msg}
    word, _, rest = msg.partition(" ")
    if word == "text" and rest.strip().isdigit():
        chars = int(rest)
        if not 1 <= chars <= 4000:
            raise ValueError(f"--mix: {entry!r}: text length must be 1..4000 characters (got {chars})")
        return {"type": "text", "chars": chars}
    if word == "callback":
        if not rest.strip():
            raise ValueError(f"--mix: {entry!r}: callback needs its data, e.g. 'callback menu:1'")
        return {"type": "callback", "text": rest.strip()}
    return {"type": "text", "text": msg}

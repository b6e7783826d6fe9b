"""The bot's message handlers: the protocol the load generator relies on.

Every user message gets exactly ONE ``sendMessage``, always ``message.reply(...)`` so that the reply's
``reply_to_message_id`` is the user's ``message_id`` (that is how the load generator matches a reply
to its update and times it end to end). Kinds:
``/start`` or ``/notes`` → command (reads) · ``/note TEXT`` → note (an autocommitted insert: "saved #ID"
only after commit) · plain text → chat_simple (Haiku) · ``/deep TEXT`` → chat_deep (Sonnet + MCP
lookup) · ``/digest HH:MM`` (or ``/digest`` then the time, an FSM state in Redis) → schedule.
Failures are answered gracefully (still one reply) and marked ``ok: false`` in the stage record.

Each kind makes the scenario's ``db_queries`` round trips on one pooled connection (its own statements,
then context reads up to that count, ``_context_reads``): calibration divides the measured query time by
that count, so the bot and the model must agree on it (below two the bot still runs its own two).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiogram import F, Router
from aiogram.exceptions import TelegramRetryAfter
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from botcap.loadtest.staging.claude_client import ClaudeClient, ClaudeUnavailable
from botcap.loadtest.staging.db import Db
from botcap.loadtest.staging.mcp import McpLookup
from botcap.loadtest.staging.scheduler import parse_hhmm, schedule_digest
from botcap.loadtest.staging.timings import current_record, timed

from botcap.scenario import Scenario

CLAUDE_DOWN = "Sorry, I can't think right now (the AI service is busy). Please try again in a minute."
DB_DOWN = "Sorry, something went wrong on our side. Please try again."
NOTE_NOT_SAVED = "Not saved: the database is unavailable. Please send it again."


@dataclass
class Deps:
    """What the handlers share, put into the dispatcher's workflow data as ``deps``."""

    scenario: Scenario
    db: Db
    claude: ClaudeClient
    mcp: McpLookup
    instance: str


class DigestStates(StatesGroup):
    waiting_time = State()


router = Router(name="staging")


def _mark(kind: str, message: Message) -> None:
    rec = current_record()
    if rec is not None:
        rec.kind = kind
        rec.chat_id = message.chat.id


def _fail(error: BaseException | str) -> None:
    rec = current_record()
    if rec is not None:
        rec.ok = False
        rec.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:300]


async def reply(message: Message, text: str) -> None:
    """The one reply, timed as telegram_send; a 429 from the Bot API is waited out (retry_after)."""
    with timed("telegram_send"):
        for attempt in range(4):
            try:
                await message.reply(text[:4096])
                return
            except TelegramRetryAfter as e:
                if attempt == 3:
                    raise
                await asyncio.sleep(e.retry_after)


async def _context_reads(conn, deps: Deps, kind: str, message: Message, done: int) -> None:
    """The reads a real handler adds (the user's digest schedule, for the prompt or the reply) up to the
    kind's ``db_queries``, ``done`` being the statements the handler ran itself."""
    for _ in range(deps.scenario.workload.kinds[kind].db_queries - done):
        await conn.fetchrow("SELECT wanted_min, slot_min FROM schedules WHERE user_id = $1",
                            message.from_user.id)


async def _touch_user(conn, message: Message) -> None:
    user = message.from_user
    await conn.execute(
        "INSERT INTO users (user_id, chat_id, first_name) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id) DO UPDATE SET last_seen = now(), chat_id = EXCLUDED.chat_id",
        user.id, message.chat.id, user.first_name or "")


@router.message(CommandStart())
async def on_start(message: Message, deps: Deps) -> None:
    _mark("command", message)
    try:
        async with deps.db.connection() as conn:
            await _touch_user(conn, message)
            count = await conn.fetchval("SELECT count(*) FROM notes WHERE user_id = $1", message.from_user.id)
            await _context_reads(conn, deps, "command", message, 2)
    except Exception as e:  # noqa: BLE001 - any DB failure gets the graceful reply
        _fail(e)
        return await reply(message, DB_DOWN)
    await reply(message, f"Hi {message.from_user.first_name}! You have {count} notes. "
                         "Commands: /note TEXT, /notes, /deep QUESTION, /digest HH:MM")


@router.message(Command("notes"))
async def on_notes(message: Message, deps: Deps) -> None:
    _mark("command", message)
    try:
        async with deps.db.connection() as conn:
            await _touch_user(conn, message)
            rows = await conn.fetch("SELECT note_id, body FROM notes WHERE user_id = $1 "
                                    "ORDER BY note_id DESC LIMIT 10", message.from_user.id)
            await _context_reads(conn, deps, "command", message, 2)
    except Exception as e:  # noqa: BLE001
        _fail(e)
        return await reply(message, DB_DOWN)
    if not rows:
        return await reply(message, "No notes yet. Save one with /note TEXT")
    await reply(message, "Your notes:\n" + "\n".join(f"#{r['note_id']} {r['body']}" for r in rows))


@router.message(Command("note"))
async def on_note(message: Message, command: CommandObject, deps: Deps) -> None:
    _mark("note", message)
    body = (command.args or "").strip()
    if not body:
        return await reply(message, "Usage: /note TEXT")
    try:
        async with deps.db.connection() as conn:
            # autocommit: the user row is committed before the note that references it, and the
            # INSERT returns only once the note has committed (a transaction would add two round trips
            # for BEGIN/COMMIT that the scenario's db_queries does not count)
            await _touch_user(conn, message)
            note_id = await conn.fetchval("INSERT INTO notes (user_id, body) VALUES ($1, $2) "
                                          "RETURNING note_id", message.from_user.id, body)
            await _context_reads(conn, deps, "note", message, 2)
        # the note has committed here: only now may the user be told it is saved
    except Exception as e:  # noqa: BLE001
        _fail(e)
        return await reply(message, NOTE_NOT_SAVED)
    await reply(message, f"saved #{note_id}")


async def _recent_notes(deps: Deps, message: Message, kind: str, limit: int) -> list[str]:
    async with deps.db.connection() as conn:
        await _touch_user(conn, message)
        rows = await conn.fetch("SELECT body FROM notes WHERE user_id = $1 ORDER BY note_id DESC LIMIT $2",
                                message.from_user.id, limit)
        await _context_reads(conn, deps, kind, message, 2)
    return [r["body"] for r in rows]


async def _chat(message: Message, deps: Deps, kind: str, question: str) -> None:
    _mark(kind, message)
    spec = deps.scenario.workload.kinds[kind]
    try:
        notes = await _recent_notes(deps, message, kind, 3)
    except Exception as e:  # noqa: BLE001
        _fail(e)
        return await reply(message, DB_DOWN)
    context = ""
    if spec.mcp_calls:
        for _ in range(spec.mcp_calls):
            found = await deps.mcp.lookup(question)
            context += f"\n{found}" if found else "\n[lookup unavailable]"
    prompt = f"User notes: {notes}\n{context}\nQuestion: {question}"
    try:
        answer = await deps.claude.complete(spec.model or "haiku", prompt, spec.max_tokens)
    except ClaudeUnavailable as e:
        _fail(e)
        return await reply(message, CLAUDE_DOWN)
    await reply(message, answer.text or "…")


@router.message(Command("deep"))
async def on_deep(message: Message, command: CommandObject, deps: Deps) -> None:
    question = (command.args or "").strip()
    if not question:
        _mark("chat_deep", message)
        return await reply(message, "Usage: /deep QUESTION")
    await _chat(message, deps, "chat_deep", question)


async def _schedule(message: Message, deps: Deps, text: str, state: FSMContext) -> None:
    _mark("schedule", message)
    minute = parse_hhmm(text)
    if minute is None:
        await state.set_state(DigestStates.waiting_time)
        return await reply(message, "At what time should I send your daily digest? (HH:MM)")
    await state.clear()
    try:
        async with deps.db.connection() as conn:
            await _touch_user(conn, message)
            answer = await schedule_digest(conn, deps.scenario.scheduler, message.from_user.id,
                                           message.chat.id, minute)
    except Exception as e:  # noqa: BLE001
        _fail(e)
        return await reply(message, DB_DOWN)
    await reply(message, answer)


@router.message(Command("digest"))
async def on_digest(message: Message, command: CommandObject, deps: Deps, state: FSMContext) -> None:
    await _schedule(message, deps, (command.args or "").strip(), state)


@router.message(StateFilter(DigestStates.waiting_time), F.text)
async def on_digest_time(message: Message, deps: Deps, state: FSMContext) -> None:
    await _schedule(message, deps, message.text.strip(), state)


@router.message(F.text & ~F.text.startswith("/"))
async def on_text(message: Message, deps: Deps) -> None:
    await _chat(message, deps, "chat_simple", message.text)


@router.message()
async def on_other(message: Message) -> None:
    _mark("command", message)
    await reply(message, "Unknown command. Try /start")

"""The terminal chat of the embedded demo: one line in, the bot's replies out.

Buttons become numbered choices (the console has no buttons); OTPs appear as simulated SMS
lines printed by ``ConsoleOtpSender``. Works with a real terminal and with a pipe (the
end-to-end test types a whole journey into stdin and reads stdout).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.messages import Button, ConversationKey, Incoming, Reply

QUIT_WORDS = frozenset({"/quit", "/exit", "/thoat", "/thoát"})

Handle = Callable[[Incoming], Awaitable[list[Reply]]]


class ConsoleChannel:
    name = "console"

    def __init__(
        self,
        handle: Handle,
        *,
        school_id: str,
        user: str = "local",
        locale: str = "vi",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        documents_dir: Path | None = None,
    ) -> None:
        self._handle = handle
        self.key = ConversationKey(
            school_id=school_id, channel=self.name, chat_id=user, user_id=user
        )
        self._locale = locale
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stdout
        self._interactive = self._in.isatty() and self._out.isatty()
        self._prompting = False  # "🧑 " is on screen, waiting for the user's line
        self._documents = documents_dir or Path(".")  # where a sent file (a PDF) is saved

    def write(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def push(self, line: str) -> None:
        """A message that arrives while the user may be typing (📬): on its own lines, then
        the prompt again, so the terminal never looks stuck."""
        if self._interactive and self._prompting:
            self._out.write("\n" + line + "\n🧑 ")
            self._out.flush()
        else:
            self.write(line)

    def render(self, reply: Reply) -> str:
        body = reply.text.replace("\n", "\n   ")
        if reply.document is not None:
            body += f"\n   📄 {self.save(*reply.document)}"
        return f"🤖 {body}\n"

    def save(self, filename: str, data: bytes) -> Path:
        """A terminal cannot show a file: it is written to the data directory instead."""
        self._documents.mkdir(parents=True, exist_ok=True)
        path = (self._documents / Path(filename).name).resolve()
        path.write_bytes(data)
        return path

    async def run(self, banner: str = "") -> None:
        """Chat until EOF or /quit. Reading stdin happens on a daemon thread so a pending
        read never keeps the process alive at exit."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def reader() -> None:
            for raw in self._in:
                loop.call_soon_threadsafe(lines.put_nowait, raw.rstrip("\r\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        if banner:
            self.write(banner)
        while True:
            if self._interactive:
                self._out.write("🧑 ")
                self._out.flush()
                self._prompting = True
            line = await lines.get()
            self._prompting = False
            if line is None or line.strip().lower() in QUIT_WORDS:
                break
            if not line.strip():  # Enter on an empty line: nothing was said, ask again
                continue
            if not self._interactive:
                self.write(f"🧑 {line}")
            replies = await self._handle(
                Incoming(key=self.key, text=line, locale_hint=self._locale, message_id="")
            )
            for reply in replies:
                self.write(self.render(reply))


class ConsoleSender:
    """Delivers outbox messages (a leave request for the teacher, the decision for the
    parent) addressed to this terminal's user. In the demo each person runs their own
    terminal (``run_bot.py run --user <name>``) on the same database; messages for the
    other person stay queued until their terminal picks them up."""

    def __init__(self, channel: ConsoleChannel) -> None:
        self._channel = channel

    def accepts(self, recipient: ConversationKey) -> bool:
        own = self._channel.key
        return (recipient.school_id, recipient.channel, recipient.user_id) == (
            own.school_id,
            own.channel,
            own.user_id,
        )

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        del recipient, buttons  # the console has no buttons: the text carries typed commands
        body = text.replace("\n", "\n   ")
        self._channel.push(f"📬 {body}\n")

"""What a channel can do. Rendering degrades by capability, never by channel name.

A channel without buttons gets numbered choices in the text ("1. Điểm"), and the user
answers with the number: the router keeps the number -> action map in the conversation.
"""

from __future__ import annotations

from bot.messages import ChannelCapabilities

# The console "delivers" a file by saving it in the data directory and printing where.
CONSOLE = ChannelCapabilities(
    buttons=False, edit=False, images=False, max_text=4000, documents=True
)
MEMORY = ChannelCapabilities(
    buttons=True, edit=True, images=True, max_text=4096, documents=True, attachments=True
)
MEMORY_TEXT_ONLY = ChannelCapabilities(buttons=False, edit=False, images=False, max_text=2000)
TELEGRAM = ChannelCapabilities(
    buttons=True,
    edit=True,
    images=True,
    max_text=4096,
    groups=True,
    documents=True,
    attachments=True,
)
# Zalo: images as photos (issue 16): the OA uploads the PNG and sends its attachment; the Bot's
# sendPhoto takes a URL, so the PNG is served from the webhook server (``/media/…``) and a bot
# without a public URL sends only the text, which always comes with the image. A user's photo
# (and on the OA a PDF) is passed on to another user of the same bot by its URL (issue 17).
ZALO = ChannelCapabilities(buttons=False, edit=False, images=True, max_text=2000, attachments=True)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, on line boundaries where
    possible (a single over-long line is cut hard). Never returns an empty part."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]

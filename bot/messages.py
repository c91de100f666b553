"""The values that cross between channels and the core.

A channel adapter turns its wire format (a Telegram ``Update``, a Zalo webhook, a console
line) into an :class:`Incoming`, and renders the :class:`Reply` objects the core returns.
The core never sees a platform object and never sends anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationKey:
    """Who is talking to which school's bot, where. One dialog runs per key at a time."""

    school_id: str
    channel: str  # "console", "memory", "telegram", "zalo_bot", "zalo_oa"
    chat_id: str
    user_id: str

    def __str__(self) -> str:  # safe to log: ids only, no personal data
        return f"{self.school_id}/{self.channel}/{self.chat_id}/{self.user_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """One choice offered to the user.

    ``action`` is an internal string such as ``"child:st-6a-01"``. It never leaves the
    server: the router swaps it for a short opaque token stored in the database, so a
    channel only ever shows ``label`` and sends back ``token``.
    """

    label: str
    action: str
    token: str = ""  # set by the router before the reply reaches a channel


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One message for the person who just wrote."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    edit: bool = False  # replace the message whose button was pressed, where the channel can
    private_only: bool = False  # contains personal data: never post in a group chat
    image_png: bytes | None = field(default=None, repr=False)  # e.g. a VietQR code
    # (file name, bytes), e.g. the printed contact book; only for channels with ``documents``
    document: tuple[str, bytes] | None = field(default=None, repr=False)
    notice: bool = False  # a short answer to a button press (Telegram: a toast, not a message)
    to_private: bool = False  # a group's pointer to the private chat (a channel may link it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A photo or a file a user sent (issue 17: a medical certificate for the teacher). Only
    the platform's reference travels: the bytes stay on the platform, and ``file_id`` means
    something to the same bot only (so it is relayed within one channel of one school)."""

    kind: str  # "photo" | "document"
    file_id: str = field(repr=False)  # Zalo: the platform's URL, never logged
    name: str = ""  # the document's file name, if the platform gave one
    mime: str = ""
    size: int = 0  # bytes, as the platform reported; 0 = unknown

    @classmethod
    def from_dict(cls, found: object) -> Attachment | None:
        """One kept as a plain dict (``dataclasses.asdict``: dialog state, an outbox row's
        payload, a stored JSON list); None for anything without a ``file_id``. Never raises:
        a damaged value reads as no attachment."""
        if not isinstance(found, dict) or not found.get("file_id"):
            return None
        try:
            size = int(str(found.get("size", 0) or 0))
        except ValueError:
            size = 0
        return cls(
            kind=str(found.get("kind", "") or "document"),
            file_id=str(found["file_id"]),
            name=str(found.get("name", "")),
            mime=str(found.get("mime", "")),
            size=size,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """One thing a user did: typed text or pressed a button."""

    key: ConversationKey
    text: str = ""
    button_token: str = ""  # opaque token from a pressed button, to be re-checked
    locale_hint: str = (
        ""  # the platform's language code ("vi", "en-US"), used until the user picks one
    )
    is_group: bool = False  # group chat: never answer with personal data
    message_id: str = ""  # platform id of the user's message, for editing and dedupe
    # The platform's id of this event (update id, message id): the router records it in the
    # turn's own transaction, so an event delivered again, even after a restart, runs once.
    event_id: str = ""
    display_name: str = ""
    attachment: Attachment | None = None  # a photo or document (its caption is ``text``)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCapabilities:
    buttons: bool  # inline buttons that send back an opaque token
    edit: bool  # can replace a message the bot sent
    images: bool
    max_text: int  # characters per message; longer replies are split on line boundaries
    groups: bool = False  # the channel has group chats (scores never go there)
    documents: bool = False  # can deliver a file (a PDF) with a reply
    # takes photos and documents from users and passes them on by reference (issue 17)
    attachments: bool = False

"""The pinned Telegram Bot API spec and a validator for Bot API calls.

Used by :mod:`tests.fakes.telegram_api` (the fake server); usable on its own, e.g. to check that an
object the fake (or a test) built matches the spec::

    spec = TelegramSpec.load()
    result = spec.validate_call("sendMessage", {"chat_id": "5", "text": "Chào"})
    assert result.errors == [] and result.params["chat_id"] == 5
    assert spec.validate_object(message_dict, "Message") == []

The data is ``tests/fixtures/telegram-bot-api.json``, an unmodified copy of ``api.json`` from
PaulSonOfLars/telegram-bot-api-spec (MIT, see ``telegram-bot-api.LICENSE`` beside it), pinned at
:data:`SPEC_VERSION`. Each method and type lists ``fields[{name, types[], required, description}]``;
unions (``BotCommandScope``, ``InputMedia`` ...) list ``subtypes``. Limits exist only in prose, so
they are read with regular expressions:

* ``N-M characters`` / ``N-M bytes`` on strings (characters are code points; "after entities
  parsing" means the text with HTML / MarkdownV2 / Markdown markup removed; bytes are UTF-8),
* ``Values between N-M`` / ``; N-M`` on numbers,
* ``must be X`` / ``always "X"`` on the ``type``/``source``/``status`` field of union members.

On top of the spec: inline keyboards hold at most 100 buttons and 8 per row (PTB's
``InlineKeyboardMarkupLimit``; undocumented by Telegram), an inline button needs exactly one action
field, ``BotCommand.command`` is ``[a-z0-9_]``, ``setWebhook.secret_token`` is ``[A-Za-z0-9_-]``,
``parse_mode`` is one of HTML/MarkdownV2/Markdown and its markup must parse, entity offsets and
lengths (UTF-16 code units) must fall inside the text.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "telegram-bot-api.json"
SPEC_VERSION = "Bot API 10.1"
SPEC_RELEASE_DATE = "June 11, 2026"
SPEC_SOURCE = (
    "github.com/PaulSonOfLars/telegram-bot-api-spec api.json "
    "@ 160fd99507e1c7c77e92dc90f5993d724735b51c"
)

INLINE_KEYBOARD_MAX_BUTTONS = 100
INLINE_KEYBOARD_MAX_PER_ROW = 8

PRIMITIVES = frozenset({"Integer", "Float", "Boolean", "String", "InputFile"})

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
PARSE_MODES = frozenset({"html", "markdownv2", "markdown"})
# Fields of InlineKeyboardButton of which exactly one must be set.
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

_LENGTH_RE = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_RANGE_RE = re.compile(r"(?:[Vv]alues between |[;,] )(\d+)-(\d+)(?=[.,;\s]|$)")
_LITERAL_RE = re.compile(r"(?:must be|always) [\"“]?([A-Za-z0-9_]+)[\"”]?")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_INT_RE = re.compile(r"[+-]?\d+")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of ``MessageEntity.offset``/``length``."""
    return len(text.encode("utf-16-le")) // 2


class EntityParseError(ValueError):
    """Markup that Telegram would refuse with "Bad Request: can't parse entities: ..."."""


@dataclass(frozen=True)
class UploadedFile:
    """A ``multipart/form-data`` part with a file name: what the API calls an InputFile."""

    part: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str
    length: tuple[int, int, str] | None = None  # (min, max, "characters" | "bytes")
    after_entities: bool = False
    number_range: tuple[int, int] | None = None
    literal: str | None = None


@dataclass(frozen=True)
class ObjectSpec:
    """A method's parameters or a type's fields."""

    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()


@dataclass
class CheckResult:
    """Outcome of :meth:`TelegramSpec.validate_call`: coerced parameters and every problem."""

    params: dict[str, Any]
    errors: list[str] = field(default_factory=list)


@dataclass
class _Ctx:
    files: Mapping[str, UploadedFile]
    utf16: bool
    errors: list[str] = field(default_factory=list)


def _field_from_json(raw: Mapping[str, Any], *, union_member: bool) -> FieldSpec:
    types = tuple(str(t) for t in raw["types"])
    desc = str(raw.get("description", ""))
    length = number_range = literal = None
    if "String" in types and (m := _LENGTH_RE.search(desc)):
        length = (int(m.group(1)), int(m.group(2)), m.group(3))
    if types in (("Integer",), ("Float",)) and (m := _RANGE_RE.search(desc)):
        number_range = (int(m.group(1)), int(m.group(2)))
    if (
        union_member
        and types == ("String",)
        and raw["name"] in ("type", "source", "status")
        and (m := _LITERAL_RE.search(desc))
    ):
        literal = m.group(1)
    return FieldSpec(
        name=str(raw["name"]),
        types=types,
        required=bool(raw.get("required", False)),
        description=desc,
        length=length,
        after_entities="after entit" in desc,
        number_range=number_range,
        literal=literal,
    )


def _object_from_json(raw: Mapping[str, Any]) -> ObjectSpec:
    member = bool(raw.get("subtype_of"))
    fields = {f["name"]: _field_from_json(f, union_member=member) for f in raw.get("fields", [])}
    return ObjectSpec(
        name=str(raw["name"]),
        fields=fields,
        subtypes=tuple(raw.get("subtypes", ())),
        returns=tuple(raw.get("returns", ())),
    )


class TelegramSpec:
    """Methods and types of the pinned Bot API spec, with validation."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data["version"])
        self.release_date: str = str(data["release_date"])
        self.methods: dict[str, ObjectSpec] = {
            name: _object_from_json(m) for name, m in data["methods"].items()
        }
        self.types: dict[str, ObjectSpec] = {
            name: _object_from_json(t) for name, t in data["types"].items()
        }
        self._by_lower = {name.lower(): name for name in self.methods}
        self.update_kinds: frozenset[str] = frozenset(self.types["Update"].fields) - {"update_id"}

    @classmethod
    @functools.cache
    def load(cls, path: Path = SPEC_PATH) -> TelegramSpec:
        """Load (once per path) and check the pinned version."""
        with path.open(encoding="utf-8") as fh:
            spec = cls(json.load(fh))
        if path == SPEC_PATH and spec.version != SPEC_VERSION:
            raise RuntimeError(f"{path} is {spec.version!r}, expected pinned {SPEC_VERSION!r}")
        return spec

    def canonical_method(self, name: str) -> str | None:
        """``"SENDMESSAGE"`` → ``"sendMessage"``; None if the spec has no such method."""
        return self._by_lower.get(name.lower())

    # -- public validation -------------------------------------------------------------------

    def validate_call(
        self,
        method: str,
        raw: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
        *,
        utf16: bool = False,
    ) -> CheckResult:
        """Coerce and validate the parameters of one call.

        ``raw`` holds form strings or decoded JSON values (strings are coerced per the spec
        types either way, as Telegram does); ``files`` the uploaded parts by part name (a part
        named like a parameter *is* that parameter). ``utf16`` counts "characters" limits in
        UTF-16 code units instead of code points (stricter).
        """
        name = self.canonical_method(method)
        if name is None:
            return CheckResult(dict(raw), [f"method {method!r} not found"])
        spec = self.methods[name]
        ctx = _Ctx(files=files or {}, utf16=utf16)
        params: dict[str, Any] = {}
        for key, value in raw.items():
            fspec = spec.fields.get(key)
            if fspec is None:
                ctx.errors.append(f'unknown parameter "{key}" for method {name}')
                params[key] = value
                continue
            params[key] = self._coerce(value, fspec, ctx)
        for part, upload in ctx.files.items():
            if part in spec.fields and part not in params:
                params[part] = upload
        for fspec in spec.fields.values():
            if fspec.required and fspec.name not in params:
                ctx.errors.append(f'parameter "{fspec.name}" is required for method {name}')
        for key, value in params.items():
            fspec = spec.fields.get(key)
            if fspec is None or value is _INVALID:
                continue
            ctx.errors.extend(self._check(value, fspec.types, key, ctx))
            ctx.errors.extend(self._constraints(value, fspec, params, key, ctx))
        ctx.errors.extend(_method_rules(name, params, self.update_kinds))
        return CheckResult({k: v for k, v in params.items() if v is not _INVALID}, ctx.errors)

    def validate_object(self, value: Any, type_name: str, *, path: str = "") -> list[str]:
        """Problems of ``value`` as an instance of ``type_name`` (e.g. a result the fake built)."""
        ctx = _Ctx(files={}, utf16=False)
        return self._check_one(value, type_name, path or type_name, ctx)

    # -- coercion of top-level parameters ----------------------------------------------------

    def _coerce(self, value: Any, fspec: FieldSpec, ctx: _Ctx) -> Any:
        types = fspec.types
        if isinstance(value, UploadedFile):
            return value
        if not isinstance(value, str):
            # JSON body: Telegram accepts numbers where it wants a string (ids, chat_id).
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and "String" in types and not {"Integer", "Float"} & set(types):
                return str(value)
            return value
        if "Integer" in types and _INT_RE.fullmatch(value.strip()):
            return int(value)
        if "Float" in types:
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
        if "Boolean" in types and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        structured = [t for t in types if t not in PRIMITIVES]
        if structured and (value.lstrip()[:1] in ("{", "[") or "String" not in types):
            try:
                return json.loads(value)
            except ValueError:
                if "String" not in types:
                    ctx.errors.append(f'parameter "{fspec.name}": can\'t parse JSON object')
                    return _INVALID
        if "String" in types:
            return value
        if "InputFile" in types:
            return value  # _check() tells an attach:// reference from garbage
        ctx.errors.append(
            f'parameter "{fspec.name}" must be of type {" or ".join(types)}, got {value!r:.40}'
        )
        return _INVALID

    # -- recursive type checks ---------------------------------------------------------------

    def _check(self, value: Any, types: Sequence[str], path: str, ctx: _Ctx) -> list[str]:
        if len(types) == 1:
            return self._check_one(value, types[0], path, ctx)
        best: tuple[int, list[str]] | None = None
        for type_name in types:
            errors = self._check_one(value, type_name, path, ctx)
            if not errors:
                return []
            score = self._affinity(value, type_name)
            if best is None or score > best[0]:
                best = (score, errors)
        assert best is not None
        return best[1]

    def _affinity(self, value: Any, type_name: str) -> int:
        """How much ``value`` looks like ``type_name``: picks the error report for a union."""
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return 0
            inner = type_name.removeprefix("Array of ")
            return 1 + sum(self._affinity(item, inner) for item in value)
        if type_name in PRIMITIVES:
            return 1 if _primitive_ok(value, type_name) else 0
        obj = self.types.get(type_name)
        if obj is None or not isinstance(value, dict):
            return 0
        if obj.subtypes:
            return max((self._affinity(value, sub) for sub in obj.subtypes), default=0)
        score = 1 + sum(1 for key in value if key in obj.fields)
        for fspec in obj.fields.values():
            if fspec.literal is not None and value.get(fspec.name) == fspec.literal:
                score += 100
        return score

    def _check_one(self, value: Any, type_name: str, path: str, ctx: _Ctx) -> list[str]:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{path} must be an Array"]
            inner = type_name.removeprefix("Array of ")
            errors: list[str] = []
            for i, item in enumerate(value):
                errors.extend(self._check_one(item, inner, f"{path}[{i}]", ctx))
            return errors
        if type_name == "InputFile":
            if isinstance(value, UploadedFile):
                return []
            if isinstance(value, str) and value.startswith("attach://"):
                return _attach_errors(value, path, ctx)
            return [f"{path} must be an InputFile (multipart/form-data upload)"]
        if type_name in PRIMITIVES:
            if not _primitive_ok(value, type_name):
                return [f"{path} must be of type {type_name}, got {type(value).__name__}"]
            if isinstance(value, str) and value.startswith("attach://"):
                return _attach_errors(value, path, ctx)
            return []
        obj = self.types.get(type_name)
        if obj is None:
            return []  # a type the spec only names; nothing to check against
        if obj.subtypes and not obj.fields:
            return self._check(value, obj.subtypes, path, ctx)
        return self._check_object(value, obj, path, ctx)

    def _check_object(self, value: Any, obj: ObjectSpec, path: str, ctx: _Ctx) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path} must be a JSON object ({obj.name})"]
        errors: list[str] = []
        for key in value:
            if key not in obj.fields:
                errors.append(f'{path}: unknown field "{key}" for {obj.name}')
        for name, required in ((f.name, f.required) for f in obj.fields.values()):
            if required and name not in value:
                errors.append(f'{path}: field "{name}" is required for {obj.name}')
        for key, item in value.items():
            fspec = obj.fields.get(key)
            if fspec is None:
                continue
            errors.extend(self._check(item, fspec.types, f"{path}.{key}", ctx))
            errors.extend(self._constraints(item, fspec, value, f"{path}.{key}", ctx))
        errors.extend(_object_rules(obj.name, value, path))
        return errors

    def _constraints(
        self, value: Any, fspec: FieldSpec, siblings: Mapping[str, Any], path: str, ctx: _Ctx
    ) -> list[str]:
        errors: list[str] = []
        if fspec.literal is not None and isinstance(value, str) and value != fspec.literal:
            errors.append(f'{path} must be "{fspec.literal}", got "{value:.40}"')
        if fspec.number_range is not None and _primitive_ok(value, "Float"):
            low, high = fspec.number_range
            if not low <= value <= high:
                errors.append(f"{path} must be between {low} and {high}, got {value}")
        if not isinstance(value, str):
            return errors
        text = value
        if fspec.after_entities:
            mode = siblings.get(f"{fspec.name}_parse_mode", siblings.get("parse_mode"))
            if isinstance(mode, str) and mode.lower() in PARSE_MODES:
                try:
                    text = plain_text(value, mode)
                except EntityParseError as exc:
                    return [*errors, f"{path}: can't parse entities: {exc}"]
            entities_key = "entities" if fspec.name in ("text", "message_text") else ""
            entities = siblings.get(f"{fspec.name}_entities", siblings.get(entities_key))
            if isinstance(entities, list):
                errors.extend(_entity_errors(text, entities, path))
        if fspec.length is not None:
            low, high, unit = fspec.length
            if unit == "bytes":
                size = len(text.encode("utf-8"))
            else:
                size = utf16_len(text) if ctx.utf16 else len(text)
            if not low <= size <= high:
                errors.append(_length_error(fspec.name, path, size, low, high, unit))
        return errors


class _Invalid:
    def __repr__(self) -> str:
        return "<invalid>"


_INVALID: Any = _Invalid()


def _primitive_ok(value: Any, type_name: str) -> bool:
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "Boolean":
        return isinstance(value, bool)
    if type_name == "String":
        return isinstance(value, str)
    return isinstance(value, UploadedFile)


def _attach_errors(value: str, path: str, ctx: _Ctx) -> list[str]:
    name = value.removeprefix("attach://")
    if name in ctx.files:
        return []
    return [f"{path} refers to {value!r} but no multipart part is named {name!r}"]


def _length_error(name: str, path: str, size: int, low: int, high: int, unit: str) -> str:
    what = f"{path} must be {low}-{high} {unit}, got {size}"
    if name in ("text", "message_text") and high == 4096:
        return ("message is too long: " if size > high else "message text is empty: ") + what
    if name == "callback_data":
        return f"BUTTON_DATA_INVALID: {what}"
    return ("too long: " if size > high else "too short: ") + what


def _entity_errors(text: str, entities: list[Any], path: str) -> list[str]:
    total = utf16_len(text)
    errors = []
    for i, entity in enumerate(entities):
        if not isinstance(entity, dict):
            continue
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        if offset < 0 or length <= 0 or offset + length > total:
            errors.append(
                f"{path}: entity {i} (offset {offset}, length {length}) is outside the text "
                f"of {total} UTF-16 code units"
            )
    return errors


def _object_rules(name: str, value: Mapping[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    if name == "InlineKeyboardMarkup" and isinstance(value.get("inline_keyboard"), list):
        rows = value["inline_keyboard"]
        total = sum(len(row) for row in rows if isinstance(row, list))
        if total > INLINE_KEYBOARD_MAX_BUTTONS:
            errors.append(
                f"{path}: inline keyboard has {total} buttons, at most "
                f"{INLINE_KEYBOARD_MAX_BUTTONS} are allowed"
            )
        for i, row in enumerate(rows):
            if isinstance(row, list) and len(row) > INLINE_KEYBOARD_MAX_PER_ROW:
                errors.append(
                    f"{path}.inline_keyboard[{i}] has {len(row)} buttons, at most "
                    f"{INLINE_KEYBOARD_MAX_PER_ROW} per row are allowed"
                )
    elif name == "InlineKeyboardButton":
        actions = [key for key in BUTTON_ACTIONS if key in value]
        if len(actions) != 1:
            errors.append(
                f"{path}: can't parse inline keyboard button: exactly one of "
                f"url/callback_data/... must be set, got {actions or 'none'}"
            )
        url = value.get("url")
        if isinstance(url, str) and not url.startswith(("http://", "https://", "tg://")):
            errors.append(f"{path}.url: BUTTON_URL_INVALID: {url!r:.60}")
    elif name == "BotCommand":
        command = value.get("command")
        if isinstance(command, str) and not _COMMAND_RE.fullmatch(command):
            errors.append(
                f"{path}.command: BOT_COMMAND_INVALID: {command!r} (only a-z, 0-9 and _, 1-32)"
            )
    return errors


def _method_rules(
    method: str, params: Mapping[str, Any], update_kinds: frozenset[str]
) -> list[str]:
    errors: list[str] = []
    for key, value in params.items():
        bad_mode = isinstance(value, str) and value.lower() not in PARSE_MODES
        if key.endswith("parse_mode") and bad_mode:
            errors.append(f'unsupported parse_mode "{value}" in "{key}"')
    if method.startswith("editMessage") and method != "editMessageLiveLocation":
        has_chat = "chat_id" in params and "message_id" in params
        if not has_chat and "inline_message_id" not in params:
            errors.append(f"{method} needs chat_id and message_id, or inline_message_id")
    if method == "editMessageText" and "text" not in params and "rich_message" not in params:
        errors.append('parameter "text" is required for method editMessageText')
    if method == "sendChatAction" and params.get("action") not in CHAT_ACTIONS:
        errors.append(f'parameter "action" has unsupported value {params.get("action")!r}')
    if method == "setWebhook":
        secret = params.get("secret_token")
        if isinstance(secret, str) and not _SECRET_RE.fullmatch(secret):
            errors.append('parameter "secret_token" may only contain A-Z, a-z, 0-9, _ and -')
    if method in ("getUpdates", "setWebhook") and isinstance(params.get("allowed_updates"), list):
        for kind in params["allowed_updates"]:
            if kind not in update_kinds:
                errors.append(f'allowed_updates: unknown update type "{kind}"')
    return errors


# -- markup ("entities parsing") ---------------------------------------------------------------

HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "tg-time",
        "code",
        "pre",
        "blockquote",
    }
)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_HTML_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9A-Fa-f]+);")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text after entities parsing; raises :class:`EntityParseError` on bad markup."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    return text


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_html(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG_RE.match(text, i)
            if match is None:
                raise EntityParseError(
                    f"unexpected '<' at byte offset {_byte_offset(text, i)} (escape it as &lt;)"
                )
            tag = match.group(2).lower()
            if tag not in HTML_TAGS:
                raise EntityParseError(
                    f'unsupported start tag "{tag}" at byte offset {_byte_offset(text, i)}'
                )
            if match.group(1):
                if not stack or stack[-1] != tag:
                    expected = f'expected "</{stack[-1]}>"' if stack else "no tag is open"
                    raise EntityParseError(
                        f'unmatched end tag "</{tag}>" at byte offset {_byte_offset(text, i)}, '
                        + expected
                    )
                stack.pop()
            else:
                stack.append(tag)
            i = match.end()
            continue
        if char == "&" and (entity := _HTML_ENTITY_RE.match(text, i)):
            out.append(html.unescape(entity.group(0)))
            i = entity.end()
            continue
        out.append(char)
        i += 1
    if stack:
        raise EntityParseError(f'can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _find_unescaped(text: str, needle: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1


def _unescape_v2(text: str) -> str:
    return re.sub(r"\\([\x01-\x7e])", r"\1", text)


def _parse_markdown_v2(text: str) -> str:
    out: list[str] = []
    open_marks: dict[str, int] = {}
    i = 0
    line_start = True
    while i < len(text):
        char = text[i]
        at_line_start, line_start = line_start, char == "\n"
        if char == "\\":
            if i + 1 < len(text) and "\x01" <= text[i + 1] <= "\x7e":
                out.append(text[i + 1])
                i += 2
                continue
            raise EntityParseError(f"bad escape at byte offset {_byte_offset(text, i)}")
        if char == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = _find_unescaped(text, fence, i + len(fence))
            if end < 0:
                kind = "Pre" if fence == "```" else "Code"
                raise EntityParseError(
                    f"can't find end of {kind} entity at byte offset {_byte_offset(text, i)}"
                )
            body = text[i + len(fence) : end]
            if fence == "```" and "\n" in body and " " not in body.split("\n", 1)[0]:
                body = body.split("\n", 1)[1]  # first line names the language
            out.append(_unescape_v2(body))
            i = end + len(fence)
            continue
        if char == "[" or (char == "!" and text.startswith("![", i)):
            start = i + (2 if char == "!" else 1)
            close = _find_unescaped(text, "]", start)
            if close < 0 or not text.startswith("(", close + 1):
                raise EntityParseError(
                    f"character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            url_end = _find_unescaped(text, ")", close + 2)
            if url_end < 0:
                raise EntityParseError(
                    f"can't find end of a URL at byte offset {_byte_offset(text, close)}"
                )
            out.append(_parse_markdown_v2(text[start:close]))
            i = url_end + 1
            continue
        if at_line_start and text.startswith("**>", i):
            i += 3
            continue
        if at_line_start and char == ">":
            i += 1
            continue
        mark = char
        if char == "_" and text.startswith("__", i):
            mark = "__"
        elif char == "|":
            if not text.startswith("||", i):
                raise EntityParseError(
                    "character '|' is reserved and must be escaped with the preceding '\\'"
                )
            mark = "||"
        if mark in ("*", "_", "__", "~", "||"):
            if mark in open_marks:
                del open_marks[mark]
            else:
                open_marks[mark] = i
            i += len(mark)
            continue
        if char in _MDV2_RESERVED:
            raise EntityParseError(
                f"character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.append(char)
        i += 1
    if open_marks:
        mark, index = next(iter(open_marks.items()))
        raise EntityParseError(
            f"can't find end of the entity '{mark}' starting at byte offset "
            f"{_byte_offset(text, index)}"
        )
    return "".join(out)


def _parse_markdown(text: str) -> str:
    """Legacy ``Markdown``: *bold*, _italic_, `code`, ```pre```, [text](url); \\ escapes."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            i += 2
            continue
        if char in "*_`":
            fence = "```" if text.startswith("```", i) else char
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise EntityParseError(
                    f"can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            body = text[i + len(fence) : end]
            out.append(body if fence in ("`", "```") else _parse_markdown(body))
            i = end + len(fence)
            continue
        if char == "[":
            close = text.find("]", i + 1)
            if close >= 0 and text.startswith("(", close + 1):
                url_end = text.find(")", close + 2)
                if url_end >= 0:
                    out.append(text[i + 1 : close])
                    i = url_end + 1
                    continue
        out.append(char)
        i += 1
    return "".join(out)

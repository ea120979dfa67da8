"""A strict, non-executing decoder of pickle opcode streams: the generic part.

:class:`OpcodeMachine` reads a pickle from a byte buffer opcode by opcode and
builds only inert nodes: Python scalars, :class:`Text` (a str or bytes operand,
left as a view of the buffer), :class:`Tuple` (with its nesting depth) and one
:class:`Dict` whose keys are short strings.  It imports, calls and hashes
nothing (bar short strings), and bounds what a stream may ask for: opcodes,
nesting of tuples and marks, memo entries, stack size, dict keys, and decoded
text no larger than the file.  Opcodes it has no ``op_*`` method for (lists,
sets, objects, extensions, persistent ids, POP/DUP, out-of-band buffers) are
refused.  Globals, calls and ``BUILD`` are left to a subclass
(:mod:`eegmi.data.deap_pickle` admits numpy arrays).
"""

from __future__ import annotations

import codecs
import functools
import pickle
import pickletools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_OPS = 10_000  # a DEAP file has about 70
MAX_DEPTH = 8  # nested tuples (an array's state holds its shape: 2) and open marks (3)
MAX_MEMO = 1_000
MAX_STACK = 1_000
MAX_KEYS = 64
MAX_NAME = 128  # module, global and key names, dtype codes

_OPNAMES = {op.code.encode("latin-1")[0]: op.name for op in pickletools.opcodes}


class Refused(Exception):
    """The stream is not what is admitted; ``corrupt`` when it is damaged rather than foreign."""

    def __init__(self, message: str, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt


@dataclass(eq=False)
class Text:
    """A str or bytes operand: ``kind`` "str8" (Python 2 str, latin-1: the raw bytes),
    "bytes", or "utf8" (Python 3 str); decoded only when short or needed as a buffer."""

    raw: memoryview | bytes | str  # a str only for protocol 0's UNICODE
    kind: str
    latin1: bytes | None = None  # cached result of encoding it to latin-1

    def name(self) -> str | None:
        """The text itself when short enough to be a name, else None."""
        if len(self.raw) > MAX_NAME:
            return None
        if isinstance(self.raw, str):
            return self.raw
        codec = "utf-8" if self.kind == "utf8" else "latin-1"
        try:
            return str(self.raw, codec, "surrogatepass")
        except UnicodeDecodeError:
            return None


@dataclass(eq=False)
class Tuple:
    """A tuple operand; ``depth`` is 1 + the deepest tuple inside (checked when built,
    so a DAG of shared tuples is never walked)."""

    items: tuple[Any, ...]
    depth: int


@dataclass(eq=False)
class Dict:
    """The one dict a stream may hold, keyed by short names."""

    items: dict[str, Any]


SCALARS = (bool, int, float, type(None))
STOP = object()
KIND_NAMES: dict[type, str] = {Text: "string", Tuple: "tuple", Dict: "dict", int: "number",
                               float: "number", bool: "boolean", type(None): "None"}


def kind_of(v: Any) -> str:
    """A word for what ``v`` is, for messages."""
    return KIND_NAMES.get(type(v), type(v).__name__)


def is_int(v: Any, *allowed: int) -> bool:
    """``v`` is an int (or bool) and, when given, one of ``allowed``."""
    return isinstance(v, int) and (not allowed or v in allowed)


class OpcodeMachine:
    """Decodes the opcode stream of ``buf`` into inert nodes (see the module docstring)."""

    def __init__(self, buf: bytes | bytearray) -> None:
        self.buf = buf
        self.view = memoryview(buf)
        self.pos = 0
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.text_bytes = len(buf)  # what decoding text may still produce
        self.dicts = 0

    def value_ok(self, value: Any) -> bool:
        """Whether ``value`` may be stored in the dict (a subclass admits its own nodes)."""
        return isinstance(value, (Text, *SCALARS))

    # -- reading operands ------------------------------------------------------------------
    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise Refused(f"truncated: {n} bytes declared at byte {self.pos}, only "
                          f"{len(self.buf) - self.pos} remain", corrupt=True)
        out = self.view[self.pos:end]
        self.pos = end
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def line(self, limit: int = 64) -> bytes:
        end = self.buf.find(b"\n", self.pos, self.pos + limit + 1)
        if end < 0:
            raise Refused(f"text operand at byte {self.pos} is unterminated or longer than "
                          f"{limit} bytes", corrupt=True)
        out = bytes(self.view[self.pos:end])
        self.pos = end + 1
        return out

    def int_line(self) -> int:
        text = self.line(32).rstrip(b"L")
        try:
            return int(text)
        except ValueError:
            raise Refused(f"bad integer {text[:20]!r}", corrupt=True) from None

    def text_line(self) -> str:
        try:
            return self.line(MAX_NAME).decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("bad GLOBAL name", corrupt=True) from None

    # -- stack -----------------------------------------------------------------------------
    def push(self, v: Any) -> None:
        if len(self.stack) >= MAX_STACK:
            raise Refused(f"more than {MAX_STACK} values on the pickle stack")
        self.stack.append(v)

    def pop(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise Refused("pickle stack underflow", corrupt=True)
        return self.stack.pop()

    def top(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise Refused("pickle stack underflow", corrupt=True)
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise Refused("MARK expected", corrupt=True)
        i = self.marks.pop()
        items = self.stack[i:]
        del self.stack[i:]
        return items

    def tuple_of(self, items: list[Any] | tuple[Any, ...]) -> Tuple:
        depth = 1
        for v in items:
            if isinstance(v, Tuple):
                depth = max(depth, v.depth + 1)
            elif isinstance(v, Dict):
                raise Refused("a dict inside a tuple")
        if depth > MAX_DEPTH:
            raise Refused(f"tuples nested deeper than {MAX_DEPTH}")
        return Tuple(tuple(items), depth)

    # -- text and bytes --------------------------------------------------------------------
    def latin1(self, t: Text) -> memoryview | bytes:
        """The bytes numpy makes of a str/bytes payload (a str is encoded to latin-1)."""
        if t.kind in ("str8", "bytes") and not isinstance(t.raw, str):
            return t.raw
        if t.latin1 is None:  # decoded once per operand however often the memo repeats it
            try:
                text = t.raw if isinstance(t.raw, str) else str(t.raw, "utf-8", "surrogatepass")
                t.latin1 = text.encode("latin-1")
            except UnicodeError:
                raise Refused("array data is not latin-1 text", corrupt=True) from None
            if len(t.latin1) > self.text_bytes:
                raise Refused("decoded text would exceed the size of the file")
            self.text_bytes -= len(t.latin1)
        return t.latin1

    def name_of(self, v: Any, what: str) -> str:
        name = v.name() if isinstance(v, Text) else None
        if name is None:
            raise Refused(f"{what} is a {kind_of(v)}, not a short name")
        return name

    # -- opcodes: framing, scalars ---------------------------------------------------------
    def op_proto(self) -> None:
        if self.uint(1) > 5:
            raise Refused("unknown pickle protocol", corrupt=True)

    def op_frame(self) -> None:
        if self.uint(8) > len(self.buf) - self.pos:
            raise Refused("frame longer than the file", corrupt=True)

    def op_stop(self) -> object:
        return STOP

    def op_mark(self) -> None:
        if len(self.marks) >= MAX_DEPTH:
            raise Refused(f"marks nested deeper than {MAX_DEPTH}")
        self.marks.append(len(self.stack))

    def op_none(self) -> None:
        self.push(None)

    def op_newtrue(self) -> None:
        self.push(True)

    def op_newfalse(self) -> None:
        self.push(False)

    def op_int(self) -> None:
        # protocol 0 writes booleans as INT 00 / 01
        start = self.pos
        value = self.int_line()
        flag = bytes(self.view[start:self.pos - 1])
        self.push(flag == b"01" if flag in (b"00", b"01") else value)

    def op_long(self) -> None:
        self.push(self.int_line())

    def op_binint(self) -> None:
        self.push(int.from_bytes(self.take(4), "little", signed=True))

    def op_binint1(self) -> None:
        self.push(self.uint(1))

    def op_binint2(self) -> None:
        self.push(self.uint(2))

    def _long(self, n: int) -> None:
        if not 0 <= n <= 8:
            raise Refused(f"a {n}-byte integer")
        self.push(int.from_bytes(self.take(n), "little", signed=True))

    def op_long1(self) -> None:
        self._long(self.uint(1))

    def op_long4(self) -> None:
        self._long(int.from_bytes(self.take(4), "little", signed=True))

    def op_float(self) -> None:
        try:
            self.push(float(self.line(32)))
        except ValueError:
            raise Refused("bad float", corrupt=True) from None

    def op_binfloat(self) -> None:
        self.push(struct.unpack(">d", self.take(8))[0])

    # -- opcodes: strings ------------------------------------------------------------------
    def op_string(self) -> None:
        text = self.line(len(self.buf))
        if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b"'", b'"'):
            raise Refused("bad STRING operand", corrupt=True)
        try:
            raw = codecs.escape_decode(text[1:-1])[0]
        except ValueError:
            raise Refused("bad STRING escape", corrupt=True) from None
        self.push(Text(raw, "str8"))

    def op_binstring(self) -> None:
        self.push(Text(self.take(int.from_bytes(self.take(4), "little", signed=True)), "str8"))

    def op_short_binstring(self) -> None:
        self.push(Text(self.take(self.uint(1)), "str8"))

    def op_binbytes(self) -> None:
        self.push(Text(self.take(self.uint(4)), "bytes"))

    def op_short_binbytes(self) -> None:
        self.push(Text(self.take(self.uint(1)), "bytes"))

    def op_binbytes8(self) -> None:
        self.push(Text(self.take(self.uint(8)), "bytes"))

    def op_bytearray8(self) -> None:
        self.push(Text(self.take(self.uint(8)), "bytes"))

    def op_unicode(self) -> None:
        text = self.line(len(self.buf))
        try:
            raw = text.decode("raw-unicode-escape")
        except UnicodeError:
            raise Refused("bad UNICODE operand", corrupt=True) from None
        self.push(Text(raw, "utf8"))

    def op_binunicode(self) -> None:
        self.push(Text(self.take(self.uint(4)), "utf8"))

    def op_short_binunicode(self) -> None:
        self.push(Text(self.take(self.uint(1)), "utf8"))

    def op_binunicode8(self) -> None:
        self.push(Text(self.take(self.uint(8)), "utf8"))

    # -- opcodes: memo ---------------------------------------------------------------------
    def _put(self, idx: int) -> None:
        if idx not in self.memo and len(self.memo) >= MAX_MEMO:
            raise Refused(f"more than {MAX_MEMO} memo entries")
        self.memo[idx] = self.top()

    def _get(self, idx: int) -> None:
        if idx not in self.memo:
            raise Refused(f"memo entry {idx} used before it is set", corrupt=True)
        self.push(self.memo[idx])

    def op_put(self) -> None:
        self._put(self.int_line())

    def op_binput(self) -> None:
        self._put(self.uint(1))

    def op_long_binput(self) -> None:
        self._put(self.uint(4))

    def op_memoize(self) -> None:
        self._put(len(self.memo))

    def op_get(self) -> None:
        self._get(self.int_line())

    def op_binget(self) -> None:
        self._get(self.uint(1))

    def op_long_binget(self) -> None:
        self._get(self.uint(4))

    # -- opcodes: containers ---------------------------------------------------------------
    def op_empty_tuple(self) -> None:
        self.push(self.tuple_of(()))

    def op_tuple(self) -> None:
        self.push(self.tuple_of(self.pop_mark()))

    def _tuple_n(self, n: int) -> None:
        items = [self.pop() for _ in range(n)]
        self.push(self.tuple_of(items[::-1]))

    def op_tuple1(self) -> None:
        self._tuple_n(1)

    def op_tuple2(self) -> None:
        self._tuple_n(2)

    def op_tuple3(self) -> None:
        self._tuple_n(3)

    def _new_dict(self) -> Dict:
        self.dicts += 1
        if self.dicts > 1:
            raise Refused("more than one dict (a DEAP file is one dict of arrays)")
        return Dict({})

    def op_empty_dict(self) -> None:
        self.push(self._new_dict())

    def op_dict(self) -> None:
        items = self.pop_mark()
        d = self._new_dict()
        self._set_items(d, items)
        self.push(d)

    def op_setitem(self) -> None:
        value = self.pop()
        key = self.pop()
        self._set_items(self.top(), [key, value])

    def op_setitems(self) -> None:
        items = self.pop_mark()
        self._set_items(self.top(), items)

    def _set_items(self, d: Any, items: list[Any]) -> None:
        if not isinstance(d, Dict):
            raise Refused(f"dict items set on a {kind_of(d)}")
        if len(items) % 2:
            raise Refused("odd number of dict items", corrupt=True)
        for key, value in zip(items[::2], items[1::2], strict=True):
            name = self.name_of(key, "a dict key")
            if not self.value_ok(value):
                raise Refused(f"dict value {name!r} is a {kind_of(value)}, not an array")
            d.items[name] = value
            if len(d.items) > MAX_KEYS:
                raise Refused(f"more than {MAX_KEYS} dict keys")

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> Dict:
        """Decode up to STOP; the result must be one dict."""
        # typed as a plain ``type``: mypy takes ``type[OpcodeMachine]`` for unhashable
        # (python/mypy#11470), though every class object is
        cls: type = type(self)
        handlers = _handlers(cls)
        ops = 0
        while True:
            if self.pos >= len(self.buf):
                raise Refused("truncated: the pickle has no STOP", corrupt=True)
            code = self.buf[self.pos]
            at = self.pos
            self.pos += 1
            ops += 1
            if ops > MAX_OPS:
                raise Refused(f"more than {MAX_OPS} pickle opcodes")
            handler = handlers.get(code)
            if handler is None:
                if code in _OPNAMES:
                    raise Refused(f"pickle opcode {_OPNAMES[code]} at byte {at} is not used "
                                  "by DEAP files")
                raise Refused(f"unknown pickle opcode 0x{code:02x} at byte {at}", corrupt=True)
            if handler(self) is STOP:
                break
        if self.marks or len(self.stack) != 1:
            raise Refused("pickle ends with a broken stack", corrupt=True)
        result = self.stack[0]
        if not isinstance(result, Dict):
            raise Refused(f"expected a dict with 'data' and 'labels', got {kind_of(result)}")
        return result


@functools.cache
def _handlers(cls: type) -> dict[int, Callable[[Any], Any]]:
    out = {}
    for name in dir(cls):
        if name.startswith("op_"):
            out[getattr(pickle, name[3:].upper())[0]] = getattr(cls, name)
    return out

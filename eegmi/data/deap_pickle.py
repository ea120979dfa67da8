"""DEAP's pickled ``sNN.dat`` files read by a strict opcode interpreter, never by ``pickle``.

A restricted ``pickle.Unpickler`` (only numpy globals admitted) still trusts the
stream: a dtype state with a field offset outside the item reads memory outside
the array, a tuple DAG used as a dict key hashes for ever, a 2,000,000-deep
tuple overflows the C stack when hashed, ``_codecs.encode`` chains double a
string at each step and ``_reconstruct`` allocates whatever shape it is told.
Here the opcodes are decoded one by one into inert nodes by
:class:`eegmi.data.pickle_ops.OpcodeMachine` (nothing is imported, called or
hashed but short strings) and checked against what a pickled dict of numpy
arrays holds; only after ``STOP`` are the arrays built, as
``np.frombuffer`` views of the file's own bytes.

Admitted:

- opcodes: those pickle protocols 0-5 write for one dict of numpy arrays (no
  lists, sets, objects, extensions, persistent ids, POP/DUP or out-of-band buffers);
- globals: ``numpy.core.multiarray._reconstruct`` and ``numpy._core...``,
  ``numpy.ndarray``, ``numpy.dtype``, ``_codecs.encode`` (how Python 3 writes
  bytes under protocol 2, only ``(str, "latin1")``) and ``numpy._core.numeric._frombuffer``
  (protocol 5), each only with the arguments numpy itself writes;
- dtypes: ``f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8`` in either byte order, with the
  default dtype state (no fields, subarrays, offsets or metadata);
- sizes: the limits of :mod:`eegmi.data.pickle_ops` (opcodes, nesting, memo,
  stack, keys), at most :data:`MAX_NDIM` dimensions; every array's declared size equals the
  bytes of its payload, and all arrays together (and all decoded text) can
  never claim more bytes than the file holds.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from eegmi.data.pickle_ops import (
    KIND_NAMES,
    SCALARS,
    OpcodeMachine,
    Refused,
    Text,
    Tuple,
    is_int,
    kind_of,
)

MAX_NDIM = 8

#: plain numeric dtype codes as numpy pickles them (``dtype.__reduce__``)
DTYPE_CODES = frozenset({"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"})

_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
}


@dataclass(frozen=True)
class _Global:
    role: str
    name: str


@dataclass(eq=False)
class _Dtype:
    code: str
    endian: str = "="
    built: bool = False

    def numpy(self) -> np.dtype:
        return np.dtype(self.endian.replace("|", "=") + self.code)


@dataclass(eq=False)
class _Array:
    dtype: _Dtype | None = None
    shape: tuple[int, ...] = ()
    fortran: bool = False
    data: memoryview | bytes | None = None


KIND_NAMES.update({_Array: "array", _Dtype: "dtype", _Global: "global"})


class _NumpyMachine(OpcodeMachine):
    """Admits the globals, calls and states of pickled numpy arrays."""

    def __init__(self, buf: bytes | bytearray) -> None:
        super().__init__(buf)
        self.array_bytes = len(buf)  # what arrays may still claim

    def value_ok(self, value: Any) -> bool:
        return isinstance(value, (_Array, Text, *SCALARS))

    # -- opcodes: globals, calls, state ----------------------------------------------------
    def _global(self, module: str, name: str) -> None:
        role = _GLOBALS.get((module, name))
        if role is None:
            raise Refused(f"pickle holds objects other than arrays ({module}.{name})")
        self.push(_Global(role, f"{module}.{name}"))

    def op_global(self) -> None:
        module = self.text_line()
        self._global(module, self.text_line())

    def op_stack_global(self) -> None:
        name = self.pop()
        module = self.pop()
        self._global(self.name_of(module, "a module name"), self.name_of(name, "a global name"))

    def op_reduce(self) -> None:
        args = self.pop()
        func = self.pop()
        if not isinstance(func, _Global) or not isinstance(args, Tuple):
            raise Refused(f"call of a {kind_of(func)}")
        handler = {"reconstruct": self._reconstruct, "dtype": self._dtype,
                   "encode": self._encode, "frombuffer": self._frombuffer}.get(func.role)
        if handler is None:
            raise Refused(f"call of {func.name}")
        self.push(handler(args.items))

    def _reconstruct(self, args: tuple[Any, ...]) -> _Array:
        ok = (len(args) == 3 and isinstance(args[0], _Global) and args[0].role == "ndarray"
              and isinstance(args[1], Tuple) and len(args[1].items) == 1
              and is_int(args[1].items[0], 0) and isinstance(args[2], Text)
              and args[2].name() == "b")
        if not ok:
            items = args[1].items if len(args) > 1 and isinstance(args[1], Tuple) else ()
            shape = tuple(items) if 0 < len(items) <= 8 and all(is_int(d) for d in items) else "?"
            raise Refused(f"_reconstruct called with shape {shape} instead of numpy's (0,) "
                          "(the data must follow in the array's state)")
        return _Array()

    def _dtype(self, args: tuple[Any, ...]) -> _Dtype:
        code = args[0].name() if args and isinstance(args[0], Text) else None
        if code not in DTYPE_CODES:
            what = code if code is not None else kind_of(args[0] if args else None)
            raise Refused(f"dtype {what!r} is not a plain int or float type (structured, "
                          "object, void, complex and datetime dtypes are refused)")
        if len(args) != 3 or not is_int(args[1], 0) or not is_int(args[2], 1):
            raise Refused(f"dtype {code!r} with unusual arguments")
        return _Dtype(code)

    def _encode(self, args: tuple[Any, ...]) -> Text:
        ok = (len(args) == 2 and isinstance(args[0], Text) and args[0].kind != "bytes"
              and isinstance(args[1], Text) and args[1].name() in ("latin1", "latin-1"))
        if not ok:
            enc = args[1].name() if len(args) == 2 and isinstance(args[1], Text) else None
            raise Refused(f"_codecs.encode used as something else than str -> latin-1 bytes "
                          f"(encoding {enc!r})")
        return Text(self.latin1(args[0]), "bytes")

    def _frombuffer(self, args: tuple[Any, ...]) -> _Array:
        if len(args) != 4 or not isinstance(args[0], Text) or args[0].kind != "bytes":
            raise Refused("_frombuffer without a bytes buffer")
        order = args[3].name() if isinstance(args[3], Text) else None
        if order not in ("C", "F"):
            raise Refused("_frombuffer with an unknown order")
        arr = _Array()
        self._fill(arr, args[2], args[1], order == "F", args[0])
        return arr

    def op_build(self) -> None:
        state = self.pop()
        target = self.top()
        items = state.items if isinstance(state, Tuple) else None
        if isinstance(target, _Array) and target.data is None:
            if items is None or len(items) != 5 or not is_int(items[0], 1):
                raise Refused("array state is not (1, shape, dtype, fortran, data)")
            _, shape, dtype, fortran, data = items
            if not is_int(fortran, 0, 1):
                raise Refused("array state with a non-boolean Fortran flag")
            self._fill(target, shape, dtype, bool(fortran), data)
        elif isinstance(target, _Dtype) and not target.built:
            self._dtype_state(target, items)
        else:
            raise Refused(f"BUILD on a {kind_of(target)} (only fresh arrays and dtypes are built)")

    def _dtype_state(self, dt: _Dtype, items: tuple[Any, ...] | None) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
        if items is None or not (
                len(items) in (8, 9) and is_int(items[0], 3, 4)
                and isinstance(items[1], Text) and items[2:5] == (None, None, None)
                and is_int(items[5], -1) and is_int(items[6], -1) and is_int(items[7], 0)
                and (len(items) == 8 or items[8] is None)):
            raise Refused(f"dtype {dt.code!r} with a custom state (fields, offsets, subarrays "
                          "or metadata)")
        endian = items[1].name()
        if endian not in ("<", ">", "|", "="):
            raise Refused(f"dtype {dt.code!r} with byte order {endian!r}")
        dt.endian = endian
        dt.built = True

    def _fill(self, arr: _Array, shape: Any, dtype: Any, fortran: bool, data: Any) -> None:
        if not isinstance(shape, Tuple) or len(shape.items) > MAX_NDIM or not all(
                is_int(d) and not isinstance(d, bool) and d >= 0 for d in shape.items):
            raise Refused(f"array shape is not a tuple of at most {MAX_NDIM} sizes")
        if not isinstance(dtype, _Dtype):
            raise Refused(f"array dtype is a {kind_of(dtype)}")
        if not isinstance(data, Text):
            raise Refused(f"array data is a {kind_of(data)}, not bytes")
        payload = self.latin1(data)
        nbytes = math.prod(shape.items) * int(dtype.code[1:])
        if nbytes != len(payload):
            raise Refused(f"array of shape {shape.items} {dtype.code} declares {nbytes} bytes "
                          f"but its data holds {len(payload)}")
        if nbytes > self.array_bytes:
            raise Refused("arrays declare more bytes than the file holds")
        self.array_bytes -= nbytes
        arr.shape, arr.dtype, arr.fortran, arr.data = shape.items, dtype, fortran, payload


def _build(value: Any, key: str) -> Any:
    if isinstance(value, Text):
        return value.name()
    if not isinstance(value, _Array):
        return value
    if value.data is None:
        raise Refused(f"array {key!r} has no data")
    assert value.dtype is not None
    dtype = value.dtype.numpy()
    count = math.prod(value.shape)
    flat = (np.frombuffer(value.data, dtype=dtype, count=count) if count
            else np.empty(0, dtype=dtype))
    return flat.reshape(value.shape, order="F" if value.fortran else "C")


def loads(buf: bytes | bytearray) -> dict[str, Any]:
    """Decode a pickled dict of numpy arrays without running anything in it.

    Parameters
    ----------
    buf
        The whole file.

    Returns
    -------
    dict
        Key -> array (a read-only or writable view of ``buf``, any admitted dtype and
        shape), scalar, or short string (None for long ones).

    Raises
    ------
    Refused
        Anything outside what the module docstring admits.
    """
    tree = _NumpyMachine(buf).run()
    return {key: _build(v, key) for key, v in tree.items.items()}


# -- writing: the byte layout of DEAP's files ---------------------------------------------
def dumps_py2(arrays: dict[str, np.ndarray], module: str = "numpy.core.multiarray") -> bytes:
    """A dict of arrays pickled the way Python 2's ``cPickle`` (protocol 2) wrote DEAP.

    Strings are ``SHORT_BINSTRING``, array data one ``BINSTRING``, memo ids count
    from 1 and the dtype object is shared between arrays (as numpy's builtin
    descriptors were).  Tests and ``benchmarks/deap_load.py`` build realistic
    files with it.

    Parameters
    ----------
    arrays
        Key -> C-contiguous little-endian array of a plain numeric dtype.
    module
        Where ``_reconstruct`` lives: numpy 1.x ``numpy.core.multiarray`` (the DEAP
        originals) or numpy 2.x ``numpy._core.multiarray``.
    """
    out = [b"\x80\x02}q\x01("]
    memo: dict[str, int] = {}

    def put(key: str) -> bytes:
        memo[key] = len(memo) + 2
        return b"q" + bytes([memo[key]])

    def once(key: str, body: bytes) -> bytes:
        return b"h" + bytes([memo[key]]) if key in memo else body + put(key)

    def string(s: bytes) -> bytes:
        return b"U" + bytes([len(s)]) + s

    def integer(i: int) -> bytes:
        if 0 <= i < 256:
            return b"K" + bytes([i])
        if 0 <= i < 65536:
            return b"M" + struct.pack("<H", i)
        return b"J" + struct.pack("<i", i)

    for n, (key, arr) in enumerate(arrays.items()):
        code = arr.dtype.str[1:].encode()
        endian = arr.dtype.str[:1].encode()
        out.append(string(key.encode()) + put(f"key{n}"))
        out.append(once("rec", b"c" + module.encode() + b"\n_reconstruct\n"))
        out.append(once("nd", b"cnumpy\nndarray\n"))
        out.append(integer(0) + b"\x85" + put(f"zero{n}"))
        out.append(once("b", string(b"b")))
        out.append(b"\x87" + put(f"args{n}") + b"R" + put(f"arr{n}"))
        dims = b"".join(integer(d) for d in arr.shape)
        shape = (dims + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[arr.ndim] if arr.ndim <= 3
                 else b"(" + dims + b"t")
        out.append(b"(" + integer(1) + shape + put(f"shape{n}"))
        dkey = f"dtype{arr.dtype.str}"
        if dkey in memo:
            out.append(b"h" + bytes([memo[dkey]]))
        else:
            out.append(once("dt", b"cnumpy\ndtype\n") + string(code) + put(f"code{n}")
                       + integer(0) + integer(1) + b"\x87" + put(f"dargs{n}") + b"R" + put(dkey)
                       + b"(" + integer(3) + string(endian) + put(f"end{n}") + b"NNN"
                       + b"J\xff\xff\xff\xffJ\xff\xff\xff\xff" + integer(0) + b"t"
                       + put(f"dstate{n}") + b"b")
        data = np.ascontiguousarray(arr).tobytes()
        out.append(b"\x89T" + struct.pack("<i", len(data)))
        out.append(data)
        out.append(put(f"data{n}") + b"t" + put(f"state{n}") + b"b")
    out.append(b"u.")
    return b"".join(out)

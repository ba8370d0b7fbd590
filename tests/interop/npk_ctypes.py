"""A small ctypes binding of libnumpack's store API (include/numpack.h), for the interop tests.

The npk_batch_* functions are deliberately not bound here (they have their own tests).
The shared library is found in $LIBDIR (exported by the top-level Makefile), defaulting to
<repo>/target/release.
"""

import ctypes
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
LIBDIR = Path(os.environ.get("LIBDIR") or REPO / "target" / "release")
LIBPATH = LIBDIR / "libnumpack.so"

NPK_MAX_DIMS = 32

NPK_OPEN_CREATE = 1
NPK_OPEN_READ_ONLY = 2
NPK_OPEN_DURABLE = 4
NPK_OPEN_SHARED = 8
NPK_OPEN_NO_LOCKING = 16

NPK_OK = 0
NPK_INVALID_ARGUMENT = 1
NPK_NOT_FOUND = 2
NPK_ALREADY_EXISTS = 3
NPK_DTYPE_MISMATCH = 4
NPK_SHAPE_MISMATCH = 5
NPK_IO = 6
NPK_CORRUPT = 7
NPK_LOCKED = 8
NPK_READ_ONLY = 9
NPK_BUSY = 10
NPK_OUT_OF_MEMORY = 11
NPK_BUFFER_TOO_SMALL = 12
NPK_INTERNAL = 13
NPK_NOT_DURABLE = 14
NPK_WRONG_MODE = 15

# NumPack's dtype codes, in order 0..13.
DTYPES = [
    np.dtype(np.bool_),
    np.dtype(np.uint8),
    np.dtype(np.uint16),
    np.dtype(np.uint32),
    np.dtype(np.uint64),
    np.dtype(np.int8),
    np.dtype(np.int16),
    np.dtype(np.int32),
    np.dtype(np.int64),
    np.dtype(np.float16),
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
]
CODE_OF = {dt: code for code, dt in enumerate(DTYPES)}

npk_status = ctypes.c_int32
npk_dtype = ctypes.c_int32


class npk_store(ctypes.Structure):
    """Opaque."""


npk_store_p = ctypes.POINTER(npk_store)


class npk_view(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("dtype", npk_dtype),
        ("data", ctypes.c_void_p),
        ("ndim", ctypes.c_uint32),
        ("writable", ctypes.c_int32),
        ("shape", ctypes.c_uint64 * NPK_MAX_DIMS),
        ("strides", ctypes.c_int64 * NPK_MAX_DIMS),
        ("itemsize", ctypes.c_uint64),
        ("nbytes", ctypes.c_uint64),
        ("owner", ctypes.c_void_p),
    ]


class npk_array_info(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("dtype", npk_dtype),
        ("ndim", ctypes.c_uint32),
        ("segmented", ctypes.c_int32),
        ("shape", ctypes.c_uint64 * NPK_MAX_DIMS),
        ("nbytes", ctypes.c_uint64),
        ("modify_time_us", ctypes.c_uint64),
        ("physical_rows", ctypes.c_uint64),
    ]


def sized(structure):
    """NPK_VIEW_INIT / NPK_ARRAY_INFO_INIT: all zero but struct_size = sizeof."""
    out = structure()
    out.struct_size = ctypes.sizeof(structure)
    return out


_u64p = ctypes.POINTER(ctypes.c_uint64)
_i64p = ctypes.POINTER(ctypes.c_int64)
_i32p = ctypes.POINTER(ctypes.c_int32)
_cstr = ctypes.c_char_p
_vp = ctypes.c_void_p


# function -> (restype, argtypes), exactly as include/numpack.h declares them
SIGNATURES = {
    "npk_last_error": (ctypes.c_char_p, []),
    "npk_status_str": (ctypes.c_char_p, [npk_status]),
    "npk_open": (npk_status, [_cstr, ctypes.c_uint32, ctypes.POINTER(npk_store_p)]),
    "npk_close": (npk_status, [npk_store_p]),
    "npk_save": (npk_status, [npk_store_p, _cstr, npk_dtype, ctypes.c_uint32, _u64p, _vp, _i64p]),
    "npk_load": (npk_status, [npk_store_p, _cstr, npk_dtype, ctypes.c_uint32, _u64p, _vp, _i64p]),
    "npk_append": (npk_status, [npk_store_p, _cstr, npk_dtype, ctypes.c_uint32, _u64p, _vp, _i64p]),
    "npk_replace_rows": (
        npk_status,
        [npk_store_p, _cstr, _i64p, ctypes.c_uint64, npk_dtype, ctypes.c_uint32, _u64p, _vp, _i64p],
    ),
    "npk_get_rows": (
        npk_status,
        [npk_store_p, _cstr, _i64p, ctypes.c_uint64, npk_dtype, ctypes.c_uint32, _u64p, _vp, _i64p],
    ),
    "npk_create": (npk_status, [npk_store_p, _cstr, npk_dtype, ctypes.c_uint32, _u64p, _vp]),
    "npk_read_block": (
        npk_status,
        [npk_store_p, _cstr, npk_dtype, ctypes.c_uint32, _u64p, _u64p, _vp, _i64p],
    ),
    "npk_write_block": (
        npk_status,
        [npk_store_p, _cstr, npk_dtype, ctypes.c_uint32, _u64p, _u64p, _vp, _i64p],
    ),
    "npk_drop": (npk_status, [npk_store_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_uint64]),
    "npk_drop_rows": (npk_status, [npk_store_p, _cstr, _i64p, ctypes.c_uint64]),
    "npk_compact": (npk_status, [npk_store_p, _cstr]),
    "npk_clone": (npk_status, [npk_store_p, _cstr, _cstr]),
    "npk_has": (npk_status, [npk_store_p, _cstr, _i32p]),
    "npk_list": (npk_status, [npk_store_p, ctypes.c_char_p, ctypes.c_uint64, _u64p, _u64p]),
    "npk_info": (npk_status, [npk_store_p, _cstr, ctypes.POINTER(npk_array_info)]),
    "npk_refresh": (npk_status, [npk_store_p]),
    "npk_dtype_size": (ctypes.c_uint64, [npk_dtype]),
    "npk_view_open": (npk_status, [npk_store_p, _cstr, ctypes.POINTER(npk_view)]),
    "npk_view_release": (npk_status, [ctypes.POINTER(npk_view)]),
    "npk_version": (ctypes.c_char_p, []),
    "npk_version_number": (ctypes.c_uint32, []),
    "npk_attr_set": (npk_status, [npk_store_p, _cstr, _cstr, ctypes.c_int32, _vp, ctypes.c_uint64]),
    "npk_attr_delete": (npk_status, [npk_store_p, _cstr, _cstr]),
    "npk_attr_query": (npk_status, [npk_store_p, _cstr, _cstr, _i32p, _u64p]),
    "npk_attr_get": (
        npk_status,
        [npk_store_p, _cstr, _cstr, ctypes.c_int32, _vp, ctypes.c_uint64, _u64p],
    ),
    "npk_attr_list": (npk_status, [npk_store_p, _cstr, ctypes.c_char_p, ctypes.c_uint64, _u64p, _u64p]),
}


def _load_lib(path=LIBPATH):
    lib = ctypes.CDLL(str(path))
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = _load_lib()


class NpkError(Exception):
    def __init__(self, func, status, message):
        self.func = func
        self.status = status
        self.message = message
        name = lib.npk_status_str(status).decode()
        super().__init__(f"{func}: {name} ({status}): {message}")


def last_error():
    msg = lib.npk_last_error()
    return msg.decode("utf-8", "replace") if msg is not None else ""


def check(func, status):
    if status != NPK_OK:
        raise NpkError(func, status, last_error())


def _enc(name):
    return name.encode("utf-8") if isinstance(name, str) else name


def _shape_arr(shape):
    return (ctypes.c_uint64 * max(len(shape), 1))(*shape)


def _strides_arr(strides):
    return (ctypes.c_int64 * max(len(strides), 1))(*strides)


def _indices_arr(indices):
    idx = [int(i) for i in indices]
    return (ctypes.c_int64 * max(len(idx), 1))(*idx), len(idx)


def _buf_args(arr):
    """(dtype code, ndim, shape*, data ptr, strides*) for a numpy array as it is in memory."""
    if not arr.dtype.isnative or arr.dtype not in CODE_OF:
        raise ValueError(f"unsupported dtype {arr.dtype}")
    code = CODE_OF[arr.dtype]
    data = arr.ctypes.data if arr.size else None
    return code, arr.ndim, _shape_arr(arr.shape), data, _strides_arr(arr.strides)


class Store:
    """A libnumpack store handle (npk_open ... npk_close)."""

    def __init__(self, path, flags=NPK_OPEN_CREATE):
        self.path = str(path)
        h = npk_store_p()
        check("npk_open", lib.npk_open(self.path.encode(), flags, ctypes.byref(h)))
        self.h = h

    def close(self):
        if self.h:
            h, self.h = self.h, None
            check("npk_close", lib.npk_close(h))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # --- writes -------------------------------------------------------------------------
    def attr_set(self, array, key, value):
        """npk_attr_set: int -> NPK_ATTR_INT64, float -> FLOAT64, str -> STRING, a 1-d int64 or
        float64 numpy array -> the _VECTOR types. `array` None: the store's attribute."""
        if isinstance(value, str):
            b = value.encode()
            t, buf, n = 3, ctypes.create_string_buffer(b, len(b) + 1), len(b)
        elif isinstance(value, int):
            t, buf, n = 1, (ctypes.c_int64 * 1)(value), 1
        elif isinstance(value, float):
            t, buf, n = 2, (ctypes.c_double * 1)(value), 1
        else:
            a = np.ascontiguousarray(value)
            t = {np.dtype(np.int64): 4, np.dtype(np.float64): 5}[a.dtype]
            buf, n = a, len(a)
        ptr = ctypes.c_void_p(buf.ctypes.data) if isinstance(buf, np.ndarray) else ctypes.cast(
            buf, ctypes.c_void_p)
        owner = None if array is None else _enc(array)
        check("npk_attr_set", lib.npk_attr_set(self.h, owner, _enc(key), t, ptr, n))

    def save(self, name, arr):
        """Saves `arr` exactly as it lies in memory (its byte strides are passed through)."""
        code, ndim, shape, data, strides = _buf_args(arr)
        check("npk_save", lib.npk_save(self.h, _enc(name), code, ndim, shape, data, strides))

    def append(self, name, arr):
        code, ndim, shape, data, strides = _buf_args(arr)
        check("npk_append", lib.npk_append(self.h, _enc(name), code, ndim, shape, data, strides))

    def replace_rows(self, name, indices, arr):
        idx, n = _indices_arr(indices)
        code, ndim, shape, data, strides = _buf_args(arr)
        check(
            "npk_replace_rows",
            lib.npk_replace_rows(self.h, _enc(name), idx, n, code, ndim, shape, data, strides),
        )

    def create(self, name, dtype, shape, fill=None):
        """A sized array without data; `fill` (one value of `dtype`) or zeros."""
        dt = np.dtype(dtype)
        value = None if fill is None else np.array(fill, dtype=dt)
        check(
            "npk_create",
            lib.npk_create(
                self.h,
                _enc(name),
                CODE_OF[dt],
                len(shape),
                _shape_arr(shape),
                None if value is None else value.ctypes.data,
            ),
        )

    def write_block(self, name, offset, arr):
        """Writes `arr` (any strides) as the block of `name` at `offset`; its shape is the count."""
        code, ndim, shape, data, strides = _buf_args(arr)
        check(
            "npk_write_block",
            lib.npk_write_block(
                self.h, _enc(name), code, ndim, _shape_arr(offset), shape, data, strides
            ),
        )

    def drop(self, names):
        if isinstance(names, str):
            names = [names]
        arr = (ctypes.c_char_p * max(len(names), 1))(*[_enc(n) for n in names])
        check("npk_drop", lib.npk_drop(self.h, arr, len(names)))

    def drop_rows(self, name, indices):
        idx, n = _indices_arr(indices)
        check("npk_drop_rows", lib.npk_drop_rows(self.h, _enc(name), idx, n))

    def compact(self, name=None):
        check("npk_compact", lib.npk_compact(self.h, _enc(name) if name is not None else None))

    def clone(self, src, dst):
        check("npk_clone", lib.npk_clone(self.h, _enc(src), _enc(dst)))

    def refresh(self):
        check("npk_refresh", lib.npk_refresh(self.h))

    # --- reads --------------------------------------------------------------------------
    def has(self, name):
        out = ctypes.c_int32(-1)
        check("npk_has", lib.npk_has(self.h, _enc(name), ctypes.byref(out)))
        return bool(out.value)

    def list(self):
        needed = ctypes.c_uint64()
        count = ctypes.c_uint64()
        check("npk_list", lib.npk_list(self.h, None, 0, ctypes.byref(needed), ctypes.byref(count)))
        buf = ctypes.create_string_buffer(max(needed.value, 1))
        check(
            "npk_list",
            lib.npk_list(self.h, buf, needed.value, ctypes.byref(needed), ctypes.byref(count)),
        )
        raw = buf.raw[: needed.value]
        names = [n.decode("utf-8") for n in raw.split(b"\0")[:-1]]
        assert len(names) == count.value, (names, count.value)
        return names

    def info(self, name):
        info = sized(npk_array_info)
        check("npk_info", lib.npk_info(self.h, _enc(name), ctypes.byref(info)))
        return info

    def dtype_shape(self, name):
        info = self.info(name)
        return DTYPES[info.dtype], tuple(info.shape[: info.ndim])

    def load(self, name, order="C"):
        """Loads into a fresh numpy array of the array's dtype and logical shape."""
        dt, shape = self.dtype_shape(name)
        out = np.empty(shape, dtype=dt, order=order)
        self.load_into(name, out)
        return out

    def load_into(self, name, out):
        """Loads into an existing (possibly strided) numpy array; its strides are passed."""
        code, ndim, shape, data, strides = _buf_args(out)
        check("npk_load", lib.npk_load(self.h, _enc(name), code, ndim, shape, data, strides))
        return out

    def get_rows(self, name, indices):
        dt, shape = self.dtype_shape(name)
        out = np.empty((len(indices),) + shape[1:], dtype=dt)
        idx, n = _indices_arr(indices)
        code, ndim, shp, data, strides = _buf_args(out)
        check(
            "npk_get_rows",
            lib.npk_get_rows(self.h, _enc(name), idx, n, code, ndim, shp, data, strides),
        )
        return out

    def read_block(self, name, offset, count, order="C"):
        """The block of `name` at `offset` with `count`, into a fresh array of that order."""
        dt, _ = self.dtype_shape(name)
        out = np.empty(tuple(count), dtype=dt, order=order)
        code, ndim, shape, data, strides = _buf_args(out)
        check(
            "npk_read_block",
            lib.npk_read_block(
                self.h, _enc(name), code, ndim, _shape_arr(offset), shape, data, strides
            ),
        )
        return out

    def view(self, name):
        return View(self, name)


class View:
    """A read-only view (npk_view_open / npk_view_release); `.array()` copies it to numpy."""

    def __init__(self, store, name):
        self.v = sized(npk_view)
        check("npk_view_open", lib.npk_view_open(store.h, _enc(name), ctypes.byref(self.v)))
        self.open = True

    @property
    def dtype(self):
        return DTYPES[self.v.dtype]

    @property
    def shape(self):
        return tuple(self.v.shape[: self.v.ndim])

    @property
    def strides(self):
        return tuple(self.v.strides[: self.v.ndim])

    def array(self):
        """A numpy copy of what the view shows, built from its pointer, shape and strides."""
        dt = self.dtype
        if self.v.nbytes == 0 or not self.v.data:
            assert int(np.prod(self.shape, dtype=np.int64)) == 0
            return np.empty(self.shape, dtype=dt)
        # The view spans nbytes from data (C order, positive strides); honour its strides.
        raw = (ctypes.c_uint8 * self.v.nbytes).from_address(self.v.data)
        base = np.frombuffer(raw, dtype=np.uint8).view(dt)
        arr = np.lib.stride_tricks.as_strided(base, shape=self.shape, strides=self.strides)
        return np.array(arr, copy=True)

    def release(self):
        if self.open:
            self.open = False
            check("npk_view_release", lib.npk_view_release(ctypes.byref(self.v)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

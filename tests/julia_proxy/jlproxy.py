"""A ctypes stand-in for julia/src/NumPack.jl, since no Julia runtime can run in CI.

The ctypes signatures are NOT written by hand: they are built from the ccalls parsed out of
julia/src/NumPack.jl (jlparse.parse_julia_module), with the same type mapping the signature test
checks against include/numpack.h. So each library call made here passes exactly the argument
types the Julia ccall declares (Ptr{Cvoid} handles, Cstring names, UInt64 shapes, Int64 byte
strides, Ref{NpkView} built from the Julia struct's own field list, ...).

Above that, the classes and functions below mirror the Julia high-level API function by function
(Julia name in each docstring) and do what the Julia code does:
  * a Julia `Array{T,N}` is modelled by a Fortran-ordered numpy array of the same shape: Julia
    `A[i, j]` is numpy `a[i-1, j-1]`; its `strides(A) .* sizeof(T)` are computed the Julia way
    (column-major) and passed as the byte strides;
  * `load` allocates a column-major array of the stored shape and passes its strides;
  * batch and read-only views are wrapped as Julia does: an Array over the view's memory with
    REVERSED dims (a Fortran-ordered numpy array), then PermutedDimsArray(P, (N..1)), which is
    `P.transpose()` in numpy;
  * row indices are 1-based and converted to 0-based;
  * every non-zero status raises NumPackError(status, npk_status_str(status), npk_last_error()).

The library is $LIBDIR/libnumpack.so ($LIBDIR may also name the .so itself), by default
<repo>/target/release/libnumpack.so.
"""

import ctypes
import os
from pathlib import Path

import numpy as np

import jlparse

REPO = jlparse.REPO


def library_path():
    env = os.environ.get("LIBDIR")
    if not env:
        return REPO / "target" / "release" / "libnumpack.so"
    p = Path(env)
    return p if p.suffix == ".so" or p.is_file() else p / "libnumpack.so"


# ------------------------------------------------------------------------------------------
# ctypes types from Julia types
# ------------------------------------------------------------------------------------------
_SCALARS = {
    "i32": ctypes.c_int32,
    "u32": ctypes.c_uint32,
    "i64": ctypes.c_int64,
    "u64": ctypes.c_uint64,
    "char": ctypes.c_char,
}


class TypeMapper:
    """Julia type -> ctypes type, with the Julia structs turned into ctypes Structures."""

    def __init__(self, module):
        self.module = module
        self.structs = {}
        for jname, (_mutable, fields) in module.structs.items():
            if jname.startswith("Npk"):
                self.structs[jname] = self._structure(jname, fields)

    def _structure(self, jname, fields):
        cfields = [(fname, self.field_type(t)) for fname, t in fields]
        return type(jname, (ctypes.Structure,), {"_fields_": cfields})

    def field_type(self, t):
        canon = jlparse.canon_julia(t, self.module.consts)
        return self._from_canon(canon, str(t))

    def _from_canon(self, canon, what):
        if canon is None:
            raise TypeError(f"no ctypes equivalent for Julia type {what}")
        if canon in _SCALARS:
            return _SCALARS[canon]
        if canon == "void":
            return None
        if canon == "P(void)":
            return ctypes.c_void_p
        if canon == "P(cchar)":  # Cstring
            return ctypes.c_char_p
        if canon.startswith("A"):
            n, inner = canon[1:].split("(", 1)
            return self._from_canon(inner[:-1], what) * int(n)
        if canon.startswith("struct:"):
            for jname, st in self.structs.items():
                if "struct:" + jlparse.julia_struct_to_c(jname) == canon:
                    return st
            raise TypeError(f"no Julia struct for {canon}")
        if canon.startswith("P("):
            return ctypes.POINTER(self._from_canon(canon[2:-1], what))
        raise TypeError(f"no ctypes equivalent for {what} ({canon})")

    def ccall_type(self, t):
        return self._from_canon(jlparse.canon_julia(t, self.module.consts), str(t))


class RecordingLib:
    """libnumpack with argtypes/restype from the Julia ccalls; records which functions ran."""

    def __init__(self, module, path=None):
        self.module = module
        self.types = TypeMapper(module)
        self.path = Path(path or library_path())
        self.cdll = ctypes.CDLL(str(self.path))
        self.called = set()
        self.fns = {}
        for func, (ret, argtypes) in module.signatures().items():
            fn = getattr(self.cdll, func)
            fn.restype = self.types.ccall_type(ret)
            fn.argtypes = [self.types.ccall_type(a) for a in argtypes]
            self.fns[func] = fn

    def __getattr__(self, func):
        if not func.startswith("npk_"):
            raise AttributeError(func)
        fn = self.fns.get(func)
        if fn is None:
            raise AttributeError(f"{func} is not ccall-ed by julia/src/NumPack.jl")

        def call(*args):
            self.called.add(func)
            return fn(*args)

        return call

    def struct(self, jname):
        return self.types.structs[jname]


# ------------------------------------------------------------------------------------------
# The Julia high-level API, mirrored
# ------------------------------------------------------------------------------------------
# ELTYPES in Julia (Bool, UInt8, ..., ComplexF64), as numpy dtypes, in dtype-code order.
ELTYPES = [np.dtype(t) for t in (np.bool_, np.uint8, np.uint16, np.uint32, np.uint64, np.int8,
                                 np.int16, np.int32, np.int64, np.float16, np.float32,
                                 np.float64, np.complex64, np.complex128)]
JULIA_NAMES = ["Bool", "UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64",
               "Float16", "Float32", "Float64", "ComplexF32", "ComplexF64"]


class NumPackError(Exception):
    """Julia `NumPackError(status, name, message)`."""

    def __init__(self, status, name, message):
        self.status, self.name, self.message = status, name, message
        super().__init__(f"NumPackError: {name} ({status}): {message}")


class API:
    """The module-level functions of NumPack.jl over one RecordingLib."""

    def __init__(self, lib):
        self.lib = lib
        self.NpkView = lib.struct("NpkView")
        self.NpkArrayInfo = lib.struct("NpkArrayInfo")

    # --- errors and small queries --------------------------------------------------------
    def last_error(self):
        """`last_error()`"""
        p = self.lib.npk_last_error()
        return "" if p is None else p.decode()

    def status_str(self, status):
        """`status_str(status)`"""
        p = self.lib.npk_status_str(status)
        return "NPK_UNKNOWN" if p is None else p.decode()

    def dtype_size(self, code):
        """`dtype_size(code)`"""
        return int(self.lib.npk_dtype_size(code))

    def version(self):
        """`version()`"""
        return self.lib.npk_version().decode()

    def version_number(self):
        """`version_number()`"""
        return int(self.lib.npk_version_number())

    def _error(self, status):
        msg = self.last_error()
        return NumPackError(status, self.status_str(status), msg)

    def check(self, status):
        """`_check(status)`"""
        if status != 0:
            raise self._error(status)

    # --- Store ---------------------------------------------------------------------------
    def Store(self, path, create=False, readonly=False, durable=False, shared=False,
              locking=True):
        """`Store(path; create, readonly, durable, shared, locking)`"""
        return Store(self, path, create, readonly, durable, shared, locking)

    def batch(self, f, s, memory_limit_mb=0):
        """`batch(f, s; memory_limit_mb=0)`"""
        return _run_batch(f, s.batch_begin(memory_limit_mb))

    def writable_batch(self, f, s):
        """`writable_batch(f, s)`"""
        return _run_batch(f, s.writable_batch_begin())

    def attrs(self, owner, array=None):
        """`attrs(s[, array])` / `attrs(b[, array])`"""
        return Attrs(owner, array)


def sized(structure):
    """`_sized(T)`: all zero but struct_size = sizeof(T)."""
    out = structure()
    out.struct_size = ctypes.sizeof(structure)
    return out


def dtype_code(dt):
    """`dtype_code(T)`"""
    dt = np.dtype(dt)
    if dt not in ELTYPES:
        raise TypeError(f"ArgumentError: NumPack cannot store elements of type {dt}")
    return ELTYPES.index(dt)


def eltype_of(code):
    """`eltype_of(code)`"""
    if not 0 <= code < len(ELTYPES):
        raise ValueError(f"ArgumentError: unknown NumPack dtype code {code}")
    return ELTYPES[code]


def julia_array(x, dtype=None):
    """A Julia `Array` (column-major) holding numpy-indexed values x: `A[i,j] == x[i-1,j-1]`."""
    a = np.asarray(x, dtype=dtype)
    return a.copy() if a.ndim == 0 else np.asfortranarray(a)  # asfortranarray makes 0-d 1-d


def julia_strides(shape):
    """`strides(A)` of a Julia Array of this size: (1, d1, d1*d2, ...)."""
    out, acc = [], 1
    for d in shape:
        out.append(acc)
        acc *= d
    return tuple(out)


def _layout(lib, a):
    """(shape::Vector{UInt64}, strides::Vector{Int64}, pointer) as `save!` computes them.

    A Julia Array (F-contiguous numpy array) gets its strides the Julia way and we check that
    they are what numpy has; another strided array (a PermutedDimsArray of a view, a strided
    SubArray) is passed with its own strides, as `strides(A) .* sizeof(T)` would be."""
    shape = tuple(a.shape)
    if a.flags.f_contiguous:
        strides = tuple(s * a.itemsize for s in julia_strides(shape))
        if a.size > 1:
            assert all(x == y for x, y, d in zip(strides, a.strides, shape) if d > 1), (
                strides, a.strides)
    else:
        strides = tuple(a.strides)
    n = len(shape)
    cshape = (ctypes.c_uint64 * n)(*shape)
    cstrides = (ctypes.c_int64 * n)(*strides)
    return cshape, cstrides, ctypes.c_void_p(a.ctypes.data)


def _indices(rows):
    """`_indices(rows)`: Julia's 1-based rows -> Vector{Int64} of 0-based indices."""
    idx = []
    for r in rows:
        if not isinstance(r, (int, np.integer)):
            raise TypeError(f"ArgumentError: row indices must be integers, got {r!r}")
        if r < 1:
            raise ValueError(f"ArgumentError: row indices are 1-based, got {r}")
        idx.append(int(r) - 1)
    return (ctypes.c_int64 * len(idx))(*idx), len(idx)


class Store:
    """`mutable struct Store` and the functions taking a Store."""

    def __init__(self, api, path, create, readonly, durable, shared=False, locking=True):
        self.api, self.lib = api, api.lib
        flags = 0
        if create:
            flags |= 1
        if readonly:
            flags |= 2
        if durable:
            flags |= 4
        if shared:
            flags |= 8   # NPK_OPEN_SHARED
        if not locking:
            flags |= 16  # NPK_OPEN_NO_LOCKING
        out = ctypes.c_void_p(None)
        st = self.lib.npk_open(str(path).encode(), flags, ctypes.byref(out))
        api.check(st)
        self.handle = out.value
        self.path = str(path)

    def _handle(self):
        if not self.handle:
            raise ValueError(f"ArgumentError: the NumPack store {self.path!r} is closed")
        return self.handle

    def close(self):
        """`close(s)`"""
        h = self.handle
        if not h:
            return
        self.handle = None
        self.api.check(self.lib.npk_close(h))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- whole arrays ----------------------------------------------------------------------
    def save_b(self, name, a):
        """`save!(s, name, A)`"""
        code = dtype_code(a.dtype)
        shape, strides, ptr = _layout(self.lib, a)
        st = self.lib.npk_save(self._handle(), name.encode(), code, a.ndim, shape, ptr, strides)
        self.api.check(st)
        return self

    def load_b(self, name, a):
        """`load!(s, name, A)`"""
        code = dtype_code(a.dtype)
        shape, strides, ptr = _layout(self.lib, a)
        st = self.lib.npk_load(self._handle(), name.encode(), code, a.ndim, shape, ptr, strides)
        self.api.check(st)
        return a

    def load(self, name):
        """`load(s, name)`: a new column-major Array of the stored shape."""
        raw = self._raw_info(name)
        dt = eltype_of(raw.dtype)
        dims = tuple(int(raw.shape[i]) for i in range(raw.ndim))
        return self.load_b(name, np.empty(dims, dtype=dt, order="F"))

    def append_b(self, name, a):
        """`append!(s, name, A)`"""
        code = dtype_code(a.dtype)
        shape, strides, ptr = _layout(self.lib, a)
        st = self.lib.npk_append(self._handle(), name.encode(), code, a.ndim, shape, ptr,
                                 strides)
        self.api.check(st)
        return self

    def replace_rows_b(self, name, rows, a):
        """`replace_rows!(s, name, rows, A)`"""
        code = dtype_code(a.dtype)
        idx, count = _indices(rows)
        shape, strides, ptr = _layout(self.lib, a)
        st = self.lib.npk_replace_rows(self._handle(), name.encode(), idx, count, code, a.ndim,
                                       shape, ptr, strides)
        self.api.check(st)
        return self

    def get_rows(self, name, rows):
        """`get_rows(s, name, rows)`"""
        raw = self._raw_info(name)
        if raw.ndim < 1:
            raise ValueError(f"ArgumentError: array {name!r} has no rows")
        dt = eltype_of(raw.dtype)
        idx, count = _indices(rows)
        dims = (count,) + tuple(int(raw.shape[i]) for i in range(1, raw.ndim))
        a = np.empty(dims, dtype=dt, order="F")
        shape, strides, ptr = _layout(self.lib, a)
        st = self.lib.npk_get_rows(self._handle(), name.encode(), idx, count, dtype_code(dt),
                                   a.ndim, shape, ptr, strides)
        self.api.check(st)
        return a

    # --- sized arrays and blocks ---------------------------------------------------------
    def getindex(self, name):
        """`s[name]`: a StoredArray handle (npk_info; no data read)."""
        raw = self._raw_info(name)
        dims = tuple(int(raw.shape[i]) for i in range(raw.ndim))
        return StoredArray(self, name, eltype_of(raw.dtype), dims)

    def create_b(self, name, dt, *dims, fill=None):
        """`create!(s, name, T, dims...; fill=nothing)` -> StoredArray."""
        code = dtype_code(dt)
        if any(d < 0 for d in dims):
            raise ValueError(f"ArgumentError: negative size {dims} for array {name!r}")
        shape = (ctypes.c_uint64 * len(dims))(*dims)
        value = None
        if fill is not None:
            value = np.array(fill, dtype=ELTYPES[code])  # Ref{T}(convert(T, fill))
        ptr = None if value is None else ctypes.c_void_p(value.ctypes.data)
        st = self.lib.npk_create(self._handle(), name.encode(), code, len(dims), shape, ptr)
        self.api.check(st)
        return StoredArray(self, name, ELTYPES[code], tuple(int(d) for d in dims))

    # --- catalogue -------------------------------------------------------------------------
    def drop_b(self, names):
        """`drop!(s, name)` / `drop!(s, names)`"""
        if isinstance(names, str):
            names = [names]
        strs = [n.encode() for n in names]
        if any(b"\0" in n for n in strs):
            raise ValueError("ArgumentError: embedded NULs are not allowed in C strings")
        ptrs = (ctypes.c_char_p * len(strs))(*strs)
        self.api.check(self.lib.npk_drop(self._handle(), ptrs, len(strs)))
        return self

    def drop_rows_b(self, name, rows):
        """`drop_rows!(s, name, rows)`"""
        idx, count = _indices(rows)
        self.api.check(self.lib.npk_drop_rows(self._handle(), name.encode(), idx, count))
        return self

    def compact_b(self, name=None):
        """`compact!(s[, name])`: `nothing` passes Cstring(C_NULL)."""
        arg = None if name is None else name.encode()
        self.api.check(self.lib.npk_compact(self._handle(), arg))
        return self

    def clone_b(self, src, dst):
        """`clone!(s, src, dst)`"""
        self.api.check(self.lib.npk_clone(self._handle(), src.encode(), dst.encode()))
        return self

    def haskey(self, name):
        """`haskey(s, name)`"""
        out = ctypes.c_int32(0)
        self.api.check(self.lib.npk_has(self._handle(), name.encode(), ctypes.byref(out)))
        return out.value != 0

    def list(self):
        """`list(s)` / `keys(s)`"""
        h = self._handle()
        needed, count = ctypes.c_uint64(0), ctypes.c_uint64(0)
        while True:
            st = self.lib.npk_list(h, None, 0, ctypes.byref(needed), ctypes.byref(count))
            self.api.check(st)
            if needed.value == 0:
                return []
            buf = ctypes.create_string_buffer(needed.value)
            st = self.lib.npk_list(h, buf, len(buf), ctypes.byref(needed), ctypes.byref(count))
            if st == 12:  # NPK_BUFFER_TOO_SMALL
                continue
            self.api.check(st)
            names = [n.decode() for n in buf.raw[: needed.value].split(b"\0")[:-1]]
            assert len(names) == count.value, (names, count.value)
            return names

    keys = list

    def _raw_info(self, name):
        """`_raw_info(s, name)`"""
        out = sized(self.api.NpkArrayInfo)
        st = self.lib.npk_info(self._handle(), name.encode(), ctypes.byref(out))
        self.api.check(st)
        return out

    def info(self, name):
        """`info(s, name)` -> ArrayInfo as a dict."""
        r = self._raw_info(name)
        return dict(eltype=eltype_of(r.dtype), dtype=r.dtype,
                    shape=tuple(int(r.shape[i]) for i in range(r.ndim)), nbytes=int(r.nbytes),
                    modify_time_us=int(r.modify_time_us), physical_rows=int(r.physical_rows),
                    segmented=r.segmented != 0)

    def refresh_b(self):
        """`refresh!(s)`"""
        self.api.check(self.lib.npk_refresh(self._handle()))
        return self

    def withview(self, name, f):
        """`withview(f, s, name)`"""
        v = sized(self.api.NpkView)
        st = self.lib.npk_view_open(self._handle(), name.encode(), ctypes.byref(v))
        self.api.check(st)
        try:
            return f(wrap_view(v))
        finally:
            self.lib.npk_view_release(ctypes.byref(v))

    # --- batches -----------------------------------------------------------------------
    def batch_begin(self, memory_limit_mb=0):
        """`batch_begin(s; memory_limit_mb=0)`"""
        out = ctypes.c_void_p(None)
        st = self.lib.npk_batch_begin(self._handle(), memory_limit_mb, ctypes.byref(out))
        self.api.check(st)
        return Batch(self, out.value, False)

    def writable_batch_begin(self):
        """`writable_batch_begin(s)`"""
        out = ctypes.c_void_p(None)
        st = self.lib.npk_writable_batch_begin(self._handle(), ctypes.byref(out))
        self.api.check(st)
        return Batch(self, out.value, True)


# ------------------------------------------------------------------------------------------
# StoredArray: `s[name]` and its block indexing
# ------------------------------------------------------------------------------------------
class JRange:
    """Julia's `a:b` (inclusive, 1-based)."""

    def __init__(self, first, last):
        self.first, self.last = first, last

    def __len__(self):
        return max(0, self.last - self.first + 1)


COLON = Ellipsis  # Julia's `:` in an index


def _block_range(i, n):
    """`_block_range(I[d], n)` -> (first, last) of a unit range."""
    if i is COLON:
        return 1, n
    if isinstance(i, JRange):
        return i.first, i.last
    if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
        return int(i), int(i)
    raise TypeError(f"MethodError: no method matching getindex with index {i!r}")


class StoredArray:
    """`struct StoredArray{T,N} <: AbstractArray{T,N}`: store, name, dims."""

    def __init__(self, store, name, dt, dims):
        self.store, self.lib, self.api = store, store.lib, store.api
        self.name, self.dtype, self.dims = name, np.dtype(dt), dims

    def size(self):
        """`size(h)`"""
        return self.dims

    def Array(self):
        """`Array(h)` / `collect(h)` / `copy(h)`: `load(h.store, h.name)`."""
        return self.store.load(self.name)

    def _block(self, idx):
        """`_block(h, I)` -> offset, count, kept; BoundsError outside `size(h)`."""
        n = len(self.dims)
        if len(idx) != n:
            raise TypeError(f"MethodError: {len(idx)} indices for a {n}-dimensional StoredArray")
        ranges = [_block_range(i, d) for i, d in zip(idx, self.dims)]
        for (a, b), d in zip(ranges, self.dims):
            if b >= a and (a < 1 or b > d):  # checkbounds: empty ranges are in bounds
                raise IndexError(f"BoundsError: attempt to access {self.dims} at {idx}")
        offset = [0 if b < a else a - 1 for a, b in ranges]
        count = [max(0, b - a + 1) for a, b in ranges]
        kept = tuple(c for c, i in zip(count, idx) if not isinstance(i, (int, np.integer)))
        return offset, count, kept

    def _block_strides(self, b, idx):
        """`_block_strides(B, I)`: B's Julia byte strides, itemsize for integer-indexed dims."""
        s = [x * b.itemsize for x in julia_strides(b.shape)]
        out, k = [], 0
        for i in idx:
            if isinstance(i, (int, np.integer)):
                out.append(b.itemsize)
            else:
                out.append(s[k])
                k += 1
        return out

    def _call(self, fn, offset, count, b, strides):
        n = len(self.dims)
        coff = (ctypes.c_uint64 * n)(*offset)
        ccount = (ctypes.c_uint64 * n)(*count)
        cstr = (ctypes.c_int64 * n)(*strides)
        st = fn(self.store._handle(), self.name.encode(), dtype_code(self.dtype), n, coff, ccount,
                ctypes.c_void_p(b.ctypes.data), cstr)
        self.api.check(st)

    def getindex(self, *idx):
        """`h[I...]` (npk_read_block): a new Array of the non-integer-indexed dims."""
        offset, count, kept = self._block(idx)
        a = np.empty(kept, dtype=self.dtype, order="F")  # Array{T}(undef, kept)
        self._call(self.lib.npk_read_block, offset, count, a, self._block_strides(a, idx))
        if all(isinstance(i, (int, np.integer)) for i in idx):
            return a[()]  # A[]
        return a

    def setindex_b(self, x, *idx):
        """`h[I...] = X` (npk_write_block)."""
        offset, count, kept = self._block(idx)
        full = tuple(count)
        if isinstance(x, np.ndarray) and x.ndim > 0:
            b = x if x.dtype == self.dtype else x.astype(self.dtype, order="F")  # convert
            if b.shape != full and b.shape != kept:
                raise ValueError(f"DimensionMismatch: a block of size {full} (or {kept}) cannot "
                                 f"be assigned from an array of size {b.shape}")
            assert b.flags.f_contiguous, "a Julia Array is column-major"
            if b.shape == full:
                strides = [s * b.itemsize for s in julia_strides(b.shape)]
            else:
                strides = self._block_strides(b, idx)
        elif all(isinstance(i, (int, np.integer)) for i in idx):
            b = np.array(x, dtype=self.dtype)  # fill(convert(T, X))
            strides = self._block_strides(b, idx)
        else:
            raise ValueError("ArgumentError: indexed assignment with a single value to possibly "
                             "many locations is not supported; perhaps use broadcasting `.=` "
                             "instead?")
        self._call(self.lib.npk_write_block, offset, count, b, strides)
        return self


def wrap_view(v):
    """`_wrap_view(v)`: PermutedDimsArray(unsafe_wrap(Array, ptr, reverse(shape)), (N..1))."""
    dt = eltype_of(v.dtype)
    if v.itemsize != dt.itemsize:
        raise AssertionError(f"item size {v.itemsize} for {dt}")
    n = v.ndim
    cdims = tuple(int(v.shape[i]) for i in range(n))
    expected = dt.itemsize
    for d in range(n - 1, -1, -1):
        if cdims[d] > 1 and v.strides[d] != expected:
            raise AssertionError(f"view not C-contiguous: {list(v.strides[:n])} for {cdims}")
        expected *= cdims[d]
    rdims = cdims[::-1]
    if not v.data:
        p = np.empty(rdims, dtype=dt, order="F")
    else:
        nbytes = int(np.prod(rdims, dtype=np.int64)) * dt.itemsize
        buf = (ctypes.c_char * nbytes).from_address(v.data)
        p = np.ndarray(rdims, dtype=dt, buffer=buf, order="F")  # unsafe_wrap: column-major
    if n == 0:
        return p
    return p.transpose()  # PermutedDimsArray(P, (N, ..., 1))


class Batch:
    """`mutable struct Batch` and the functions taking a Batch."""

    def __init__(self, store, handle, writable):
        self.store, self.api, self.lib = store, store.api, store.lib
        self.handle, self.writable = handle, writable

    def _handle(self):
        if not self.handle:
            raise ValueError("ArgumentError: the NumPack batch has already ended")
        return self.handle

    def load(self, name):
        """`load(b, name)`"""
        v = sized(self.api.NpkView)
        st = self.lib.npk_batch_load(self._handle(), name.encode(), ctypes.byref(v))
        self.api.check(st)
        return wrap_view(v)

    def save_b(self, name, a):
        """`save!(b, name, A)`"""
        code = dtype_code(a.dtype)
        shape, strides, ptr = _layout(self.lib, a)
        st = self.lib.npk_batch_save(self._handle(), name.encode(), code, a.ndim, shape, ptr,
                                     strides)
        self.api.check(st)
        return self

    def commit_b(self):
        """`commit!(b)`"""
        h = self._handle()
        st = self.lib.npk_batch_end(h)
        if st in (0, 14):  # NPK_OK, NPK_NOT_DURABLE: the batch is over
            self.handle = None
        if st == 0:
            return
        raise self.api._error(st)

    def abort_b(self):
        """`abort!(b)`"""
        h = self.handle
        if not h:
            return
        self.handle = None
        self.api.check(self.lib.npk_batch_abort(h))


def _run_batch(f, b):
    """`_run_batch(f, b)`: end on success, abort when `f` or the end throws."""
    ok = False
    try:
        result = f(b)
        b.commit_b()
        ok = True
        return result
    finally:
        if not ok:
            try:
                b.abort_b()
            except Exception:
                pass


# ------------------------------------------------------------------------------------------
# Attributes: `attrs(s[, array])`
# ------------------------------------------------------------------------------------------
NPK_ATTR_INT64, NPK_ATTR_FLOAT64, NPK_ATTR_STRING = 1, 2, 3
NPK_ATTR_INT64_VECTOR, NPK_ATTR_FLOAT64_VECTOR = 4, 5


def _attr_data(v):
    """`_attr_data(v)`: (type, buffer, len). Python int / float / str / list of int or float
    stand for Julia's Integer / Real / String / Vector (typed by np.int64 / np.float64 arrays:
    an empty Julia Vector{Int64} is np.array([], np.int64))."""
    if isinstance(v, (bool, int, np.integer)):
        return NPK_ATTR_INT64, (ctypes.c_int64 * 1)(int(v)), 1
    if isinstance(v, (float, np.floating)):
        return NPK_ATTR_FLOAT64, (ctypes.c_double * 1)(float(v)), 1
    if isinstance(v, str):
        b = v.encode()
        return NPK_ATTR_STRING, ctypes.create_string_buffer(b, len(b) + 1), len(b)
    a = np.asarray(v)
    if a.ndim == 1 and a.dtype.kind in "iub":
        a = np.ascontiguousarray(a, dtype=np.int64)
        return NPK_ATTR_INT64_VECTOR, a, len(a)
    if a.ndim == 1 and a.dtype.kind == "f":
        a = np.ascontiguousarray(a, dtype=np.float64)
        return NPK_ATTR_FLOAT64_VECTOR, a, len(a)
    raise TypeError(f"ArgumentError: an attribute is an Int64, a Float64, a String or a Vector "
                    f"of Int64 or Float64, not {type(v)}")


def _ptr(buf):
    return ctypes.c_void_p(buf.ctypes.data) if isinstance(buf, np.ndarray) else ctypes.cast(
        buf, ctypes.c_void_p)


class Attrs:
    """`struct Attrs{H}` and its methods (H = Store or Batch)."""

    def __init__(self, owner, array):
        self.owner, self.array = owner, array
        self.api, self.lib = owner.api, owner.lib
        self.batch = isinstance(owner, Batch)

    def _cowner(self):
        """`_cowner(a)`: NULL for the store."""
        return None if self.array is None else self.array.encode()

    def __setitem__(self, key, v):
        """`setindex!(a, v, key)`"""
        t, buf, n = _attr_data(v)
        fn = self.lib.npk_batch_attr_set if self.batch else self.lib.npk_attr_set
        self.api.check(fn(self.owner._handle(), self._cowner(), key.encode(), t, _ptr(buf), n))

    def __delitem__(self, key):
        """`delete!(a, key)`"""
        fn = self.lib.npk_batch_attr_delete if self.batch else self.lib.npk_attr_delete
        self.api.check(fn(self.owner._handle(), self._cowner(), key.encode()))

    def __getitem__(self, key):
        """`getindex(a::Attrs{Store}, key)`"""
        assert not self.batch, "a batch's Attrs have no getindex method"
        h = self.owner._handle()
        while True:
            t, n = ctypes.c_int32(0), ctypes.c_uint64(0)
            self.api.check(self.lib.npk_attr_query(h, self._cowner(), key.encode(),
                                                   ctypes.byref(t), ctypes.byref(n)))
            if t.value in (NPK_ATTR_INT64, NPK_ATTR_INT64_VECTOR):
                buf = np.empty(n.value, np.int64)
            elif t.value in (NPK_ATTR_FLOAT64, NPK_ATTR_FLOAT64_VECTOR):
                buf = np.empty(n.value, np.float64)
            else:
                buf = np.empty(n.value + 1, np.uint8)
            got = ctypes.c_uint64(0)
            st = self.lib.npk_attr_get(h, self._cowner(), key.encode(), t.value,
                                       ctypes.c_void_p(buf.ctypes.data), len(buf),
                                       ctypes.byref(got))
            if st in (12, 4):  # NPK_BUFFER_TOO_SMALL, NPK_DTYPE_MISMATCH: changed meanwhile
                continue
            self.api.check(st)
            if t.value == NPK_ATTR_STRING:
                return bytes(buf[: got.value]).decode()
            if t.value in (NPK_ATTR_INT64, NPK_ATTR_FLOAT64):
                return buf[0].item()
            return buf[: got.value]

    def keys(self):
        """`keys(a::Attrs{Store})`"""
        h = self.owner._handle()
        needed, count = ctypes.c_uint64(0), ctypes.c_uint64(0)
        while True:
            self.api.check(self.lib.npk_attr_list(h, self._cowner(), None, 0,
                                                  ctypes.byref(needed), ctypes.byref(count)))
            if needed.value == 0:
                return []
            buf = ctypes.create_string_buffer(needed.value)
            st = self.lib.npk_attr_list(h, self._cowner(), buf, len(buf), ctypes.byref(needed),
                                        ctypes.byref(count))
            if st == 12:
                continue
            self.api.check(st)
            return [k.decode() for k in buf.raw[: needed.value].split(b"\0")[:-1]]

    def __contains__(self, key):
        """`haskey(a, key)`"""
        return key in self.keys()

    def get(self, key, default):
        """`get(a, key, default)`"""
        return self[key] if key in self else default

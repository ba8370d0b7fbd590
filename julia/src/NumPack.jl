# NumPack.jl: the Julia binding of libnumpack (include/numpack.h).
#
# Usage: the package `NumPack` (julia/Project.toml): `using NumPack` once julia/ is on the
# LOAD_PATH or added with `Pkg.develop(path=...)`. The shared library is found when the first
# call needs it, not when this module is evaluated or precompiled: ENV["LIBNUMPACK"] (the
# library file) if set, else ENV["NUMPACK_PREFIX"]/lib/libnumpack.so (an install prefix) if
# set, else the library installed with this package (PREFIX/lib for a package in
# PREFIX/share/julia/NumPack) or built beside it (target/release of a checkout) if present,
# else "libnumpack" through the dynamic loader's search path. `NumPack.set_library!(path)`
# picks the library explicitly; it must come before the first call that uses the library.
#
# Layout: a Julia `Array{T,N}` is column-major, NumPack files are C order (row-major). The
# binding never transposes data itself: it hands libnumpack the array's shape `size(A)` and its
# byte strides `strides(A) .* sizeof(T)`, and the library reads or writes any strided layout. So
# `A[i, j]` in Julia is `arr[i-1, j-1]` in NumPy, with the same shape on both sides.
#
# Batch views (`load(b, name)` inside `batch`/`writable_batch`) and read-only views
# (`withview`) point into memory owned by the library, which is C order. They are returned as
# `PermutedDimsArray(unsafe_wrap(Array, ptr, reverse(shape)), (N, ..., 1))`: indexing is again
# `A[i, j] == arr[i-1, j-1]`, and `parent(A)` is the raw row-major memory as a reversed-dims
# Array (a 0-dimensional array is returned as that 0-dimensional Array itself). Such an array
# is valid only while its view is (see the lifetimes in numpack.h).
#
# Errors: every non-zero npk_status becomes a `NumPackError(status, name, message)` with the
# status code, its name (npk_status_str) and this thread's npk_last_error() message. A Julia
# task only changes threads at a yield point, and no yield happens between a failing ccall and
# the npk_last_error() call that follows it, so the message is the right one.
#
# Row indices (get_rows, replace_rows!, drop_rows!) are Julia's: 1-based, rows 1..size(A, 1).
#
# Blocks: `s[name]` is a StoredArray handle (no data read) and `s[name][5:8, :]` reads that
# block, `s[name][5:8, :] = B` writes it, with the same convention (`h[i, j]` is
# `arr[i-1, j-1]`, same shape order; nothing is reversed): the block's ranges become the
# library's offset (first - 1) and count (length), and the result Array's own column-major
# strides are passed, so the library transposes while copying.
#
# Not wrapped: nothing. Every function of numpack.h is called below.
module NumPack

export Store, Batch, NumPackError, ArrayInfo, StoredArray
export save!, create!, load, load!, get_rows, replace_rows!, drop!, drop_rows!, compact!, clone!,
    info, list, refresh!, batch, writable_batch, withview, commit!, abort!, attrs, Attrs

# ------------------------------------------------------------------------------------------
# Constants (the header's #defines)
# ------------------------------------------------------------------------------------------
const NPK_MAX_DIMS = 32

const NPK_OPEN_CREATE = UInt32(1)
const NPK_OPEN_READ_ONLY = UInt32(2)
const NPK_OPEN_DURABLE = UInt32(4)
const NPK_OPEN_SHARED = UInt32(8)
const NPK_OPEN_NO_LOCKING = UInt32(16)

const NPK_VERSION_MAJOR = 0
const NPK_VERSION_MINOR = 1
const NPK_VERSION_PATCH = 0

const NPK_OK = Int32(0)
const NPK_INVALID_ARGUMENT = Int32(1)
const NPK_NOT_FOUND = Int32(2)
const NPK_ALREADY_EXISTS = Int32(3)
const NPK_DTYPE_MISMATCH = Int32(4)
const NPK_SHAPE_MISMATCH = Int32(5)
const NPK_IO = Int32(6)
const NPK_CORRUPT = Int32(7)
const NPK_LOCKED = Int32(8)
const NPK_READ_ONLY = Int32(9)
const NPK_BUSY = Int32(10)
const NPK_OUT_OF_MEMORY = Int32(11)
const NPK_BUFFER_TOO_SMALL = Int32(12)
const NPK_INTERNAL = Int32(13)
const NPK_NOT_DURABLE = Int32(14)
const NPK_WRONG_MODE = Int32(15)

const NPK_ATTR_INT64 = Int32(1)
const NPK_ATTR_FLOAT64 = Int32(2)
const NPK_ATTR_STRING = Int32(3)
const NPK_ATTR_INT64_VECTOR = Int32(4)
const NPK_ATTR_FLOAT64_VECTOR = Int32(5)
const NPK_ATTR_MAX_KEY = 255
const NPK_ATTR_MAX_VALUE = 65536
const NPK_ATTR_MAX_COUNT = 1024

const NPK_BOOL = Int32(0)
const NPK_UINT8 = Int32(1)
const NPK_UINT16 = Int32(2)
const NPK_UINT32 = Int32(3)
const NPK_UINT64 = Int32(4)
const NPK_INT8 = Int32(5)
const NPK_INT16 = Int32(6)
const NPK_INT32 = Int32(7)
const NPK_INT64 = Int32(8)
const NPK_FLOAT16 = Int32(9)
const NPK_FLOAT32 = Int32(10)
const NPK_FLOAT64 = Int32(11)
const NPK_COMPLEX64 = Int32(12)
const NPK_COMPLEX128 = Int32(13)

# ------------------------------------------------------------------------------------------
# C structs, field for field (isbits, so Julia lays them out exactly as C does)
# ------------------------------------------------------------------------------------------
"""Mirror of C `npk_view` (560 bytes on 64-bit targets)."""
struct NpkView
    struct_size::UInt32
    dtype::Int32
    data::Ptr{Cvoid}
    ndim::UInt32
    writable::Int32
    shape::NTuple{32,UInt64}
    strides::NTuple{32,Int64}
    itemsize::UInt64
    nbytes::UInt64
    owner::Ptr{Cvoid}
end

"""Mirror of C `npk_array_info` (296 bytes on 64-bit targets)."""
struct NpkArrayInfo
    struct_size::UInt32
    dtype::Int32
    ndim::UInt32
    segmented::Int32
    shape::NTuple{32,UInt64}
    nbytes::UInt64
    modify_time_us::UInt64
    physical_rows::UInt64
end

_zero(::Type{Ptr{T}}) where {T} = Ptr{T}(0)
_zero(::Type{NTuple{N,T}}) where {N,T} = ntuple(_ -> zero(T), N)
_zero(::Type{T}) where {T<:Integer} = zero(T)

"""
`_sized(T)`: a `Ref` to a `T` (NpkView or NpkArrayInfo) that is zero but for
`struct_size = sizeof(T)`, as C's NPK_VIEW_INIT / NPK_ARRAY_INFO_INIT: the library reads that
size and writes no more bytes than it (the header's rule for appending fields to these structs),
and refuses a struct whose size was not set.
"""
_sized(::Type{T}) where {T} = Ref(T(UInt32(sizeof(T)), map(_zero, fieldtypes(T)[2:end])...))

# ------------------------------------------------------------------------------------------
# Element types
# ------------------------------------------------------------------------------------------
"""The element types NumPack stores, in dtype-code order 0..13."""
const ELTYPES = (Bool, UInt8, UInt16, UInt32, UInt64, Int8, Int16, Int32, Int64,
    Float16, Float32, Float64, ComplexF32, ComplexF64)

const NpkEltype = Union{Bool,UInt8,UInt16,UInt32,UInt64,Int8,Int16,Int32,Int64,
    Float16,Float32,Float64,ComplexF32,ComplexF64}

"""`dtype_code(T)`: NumPack's dtype code of element type `T`."""
function dtype_code(::Type{T}) where {T}
    i = findfirst(x -> x === T, ELTYPES)
    i === nothing && throw(ArgumentError("NumPack cannot store elements of type $T"))
    return Int32(i - 1)
end

"""`eltype_of(code)`: the Julia element type of a NumPack dtype code."""
function eltype_of(code::Integer)
    0 <= code < length(ELTYPES) || throw(ArgumentError("unknown NumPack dtype code $code"))
    return ELTYPES[code+1]
end

# ------------------------------------------------------------------------------------------
# Errors, versions, small queries
# ------------------------------------------------------------------------------------------
"""
    NumPackError(status, name, message)

A libnumpack call returned `status` (non-zero); `name` is its symbolic name ("NPK_NOT_FOUND")
and `message` the library's npk_last_error() text.
"""
struct NumPackError <: Exception
    status::Int32
    name::String
    message::String
end

Base.showerror(io::IO, e::NumPackError) =
    print(io, "NumPackError: ", e.name, " (", e.status, "): ", e.message)

"""This thread's last libnumpack error message ("" if none)."""
function last_error()
    p = ccall(_sym(:npk_last_error), Cstring, ())
    return p == C_NULL ? "" : unsafe_string(p)
end

"""The symbolic name of a status code, e.g. "NPK_NOT_FOUND"."""
function status_str(status::Integer)
    p = ccall(_sym(:npk_status_str), Cstring, (Int32,), Int32(status))
    return p == C_NULL ? "NPK_UNKNOWN" : unsafe_string(p)
end

"""The item size in bytes of a dtype code (0 for an unknown code)."""
dtype_size(code::Integer) = Int(ccall(_sym(:npk_dtype_size), UInt64, (Int32,), Int32(code)))

"""The loaded library's version, from npk_version()."""
version() = VersionNumber(unsafe_string(ccall(_sym(:npk_version), Cstring, ())))

"""MAJOR * 10000 + MINOR * 100 + PATCH of the loaded library (npk_version_number())."""
version_number() = Int(ccall(_sym(:npk_version_number), UInt32, ()))

"""The header version this binding was written against."""
const BINDING_VERSION = VersionNumber(NPK_VERSION_MAJOR, NPK_VERSION_MINOR, NPK_VERSION_PATCH)

# ------------------------------------------------------------------------------------------
# Finding the library at run time
# ------------------------------------------------------------------------------------------
# `ccall((:f, lib), ...)` wants `lib` to be a constant, which would fix the library path when
# this module is evaluated or precompiled. Instead the library is opened on the first call (or
# by `set_library!`), every function below is looked up once with dlsym, and each `ccall` goes
# through that function pointer: `ccall(_sym(:npk_x), ...)`.
#
# Base.Libc.Libdl is what the Libdl standard library re-exports; using it directly keeps
# Project.toml free of dependencies.
const Libdl = Base.Libc.Libdl

"""Every function of numpack.h, looked up when the library is opened."""
const _SYMBOLS = (
    :npk_open, :npk_close, :npk_save, :npk_load, :npk_append, :npk_replace_rows, :npk_get_rows,
    :npk_drop, :npk_drop_rows, :npk_compact, :npk_clone, :npk_has, :npk_list, :npk_info,
    :npk_refresh, :npk_view_open, :npk_view_release, :npk_batch_begin, :npk_writable_batch_begin,
    :npk_batch_load, :npk_batch_save, :npk_batch_end, :npk_batch_abort, :npk_dtype_size,
    :npk_status_str, :npk_last_error, :npk_version, :npk_version_number, :npk_create,
    :npk_read_block, :npk_write_block, :npk_attr_set, :npk_attr_delete, :npk_attr_query,
    :npk_attr_get, :npk_attr_list, :npk_batch_attr_set, :npk_batch_attr_delete,
)

# Filled once, under _LOAD_LOCK, and never changed afterwards: reading it needs no lock, so a
# finalizer (which must not take locks) can call through it.
const _FNS = Ref(Dict{Symbol,Ptr{Cvoid}}())
const _LIBPATH = Ref("")
const _LOAD_LOCK = ReentrantLock()

function __init__()
    # A precompiled image must not carry a table or path from the process that built it.
    _FNS[] = Dict{Symbol,Ptr{Cvoid}}()
    _LIBPATH[] = ""
    return nothing
end

"""The function pointer of `name` in the library, opening the library on first use."""
function _sym(name::Symbol)
    t = _FNS[]
    isempty(t) && (t = _load!(nothing))
    return t[name]
end

# The libraries tried when neither LIBNUMPACK nor NUMPACK_PREFIX is set: the dynamic loader's
# search (LD_LIBRARY_PATH, the ld.so cache), by the development name and then by the SONAME,
# which is all a runtime-only package installs.
function _default_names()
    Sys.islinux() || return ["libnumpack"]
    return ["libnumpack", "libnumpack.so.$(NPK_VERSION_MAJOR)"]
end

# The library installed with this package, tried only where the file exists: `make install`
# puts the package in PREFIX/share/julia/NumPack and the library in PREFIX/lib (default
# DATADIR and LIBDIR); in a checkout, cargo builds it into target/release.
function _beside_package()
    lib = "libnumpack." * Libdl.dlext
    return [joinpath(@__DIR__, "..", "..", "..", "..", "lib", lib),
            joinpath(@__DIR__, "..", "..", "target", "release", lib)]
end

function _open_default()
    # An explicit choice is the only one tried: falling back would hide a typo in the path.
    explicit = get(ENV, "LIBNUMPACK", "")
    isempty(explicit) || return (Libdl.dlopen(explicit), explicit)
    prefix = get(ENV, "NUMPACK_PREFIX", "")
    if !isempty(prefix)
        path = joinpath(prefix, "lib", "libnumpack." * Libdl.dlext)
        return (Libdl.dlopen(path), path)
    end
    beside = _beside_package()
    for path in beside
        isfile(path) && return (Libdl.dlopen(path), normpath(path))
    end
    names = _default_names()
    for name in names
        h = Libdl.dlopen_e(name)
        h == C_NULL || return (h, name)
    end
    error("NumPack: libnumpack not found, neither beside this package " *
          "($(join(normpath.(beside), ", "))) nor by the dynamic loader " *
          "($(join(names, ", "))). Set ENV[\"LIBNUMPACK\"] to the library file or " *
          "ENV[\"NUMPACK_PREFIX\"] to its install prefix before the first call, or call " *
          "NumPack.set_library!(path).")
end

function _load!(path::Union{Nothing,String})
    lock(_LOAD_LOCK)
    try
        if !isempty(_FNS[])
            (path === nothing || path == _LIBPATH[]) && return _FNS[]
            error("NumPack: the library is already loaded from $(_LIBPATH[]); " *
                  "set_library! must come before the first call that uses it " *
                  "(restart Julia to switch libraries)")
        end
        handle, found = path === nothing ? _open_default() : (Libdl.dlopen(path), path)
        t = Dict{Symbol,Ptr{Cvoid}}()
        for name in _SYMBOLS
            p = Libdl.dlsym_e(handle, name)
            p == C_NULL && error("NumPack: $found has no $name: the library is older than " *
                                 "this binding (written for $(BINDING_VERSION))")
            t[name] = p
        end
        _LIBPATH[] = found
        _FNS[] = t
        return t
    finally
        unlock(_LOAD_LOCK)
    end
end

"""
    NumPack.set_library!(path)

Opens the libnumpack shared library at `path` (for example
"/opt/numpack/lib/libnumpack.so") and uses it for every call. Without it, the first call opens
`ENV["LIBNUMPACK"]` if set, else `ENV["NUMPACK_PREFIX"]/lib/libnumpack.so` if set, else
the library installed or built beside this package if present, else "libnumpack" from the
dynamic loader's search path. Throws if the library cannot be opened or
lacks a function, and if another library is already in use (switching under open stores would
hand their handles to another library).
"""
function set_library!(path::AbstractString)
    _load!(String(path))
    return nothing
end

"""The library in use (the name or path it was opened by); "" before the first call."""
library_path() = _LIBPATH[]

# Must be called right after the failing ccall (no yield in between): see the file header.
function _error(status::Int32)
    msg = last_error()
    return NumPackError(status, status_str(status), msg)
end

@inline function _check(status::Int32)
    status == NPK_OK || throw(_error(status))
    return nothing
end

# ------------------------------------------------------------------------------------------
# Store
# ------------------------------------------------------------------------------------------
"""
    Store(path; create=false, readonly=false, durable=false, shared=false, locking=true)
    Store(f, path; kwargs...)   # do-block: closes the store when `f` returns or throws

Opens the NumPack store in directory `path` (npk_open). `create` makes it if missing,
`readonly` takes no lock (every write throws NPK_READ_ONLY), `durable` fsyncs each commit.
`shared` (NPK_OPEN_SHARED) opens an in-place writer, one of any number at once (MPI ranks):
block writes (`s[name][5:8, :] = B`), `replace_rows!` and writable batches on existing arrays;
structural calls (`save!`, `create!`, `append!`, `drop!`, `drop_rows!`, `compact!`, `clone!`,
`batch`) throw NPK_WRONG_MODE, and a structural open meanwhile gets NPK_LOCKED. `locking=false`
(NPK_OPEN_NO_LOCKING) takes no file lock, for filesystems without working locks: the caller
then guarantees the exclusion. Close it with `close(s)`; a finalizer closes a forgotten handle.
"""
mutable struct Store
    handle::Ptr{Cvoid}
    path::String

    function Store(path::AbstractString; create::Bool=false, readonly::Bool=false,
        durable::Bool=false, shared::Bool=false, locking::Bool=true)
        flags = UInt32(0)
        create && (flags |= NPK_OPEN_CREATE)
        readonly && (flags |= NPK_OPEN_READ_ONLY)
        durable && (flags |= NPK_OPEN_DURABLE)
        shared && (flags |= NPK_OPEN_SHARED)
        locking || (flags |= NPK_OPEN_NO_LOCKING)
        out = Ref{Ptr{Cvoid}}(C_NULL)
        st = ccall(_sym(:npk_open), Int32, (Cstring, UInt32, Ref{Ptr{Cvoid}}),
            path, flags, out)
        _check(st)
        s = new(out[], String(path))
        finalizer(_finalize_store, s)
        return s
    end
end

function Store(f::Function, path::AbstractString; kwargs...)
    s = Store(path; kwargs...)
    try
        return f(s)
    finally
        close(s)
    end
end

function _finalize_store(s::Store)
    h = s.handle
    s.handle = C_NULL
    # A finalizer must not throw: the status is ignored here (close(s) reports it).
    h == C_NULL || ccall(_sym(:npk_close), Int32, (Ptr{Cvoid},), h)
    return nothing
end

"""`close(s)`: closes the store (npk_close). Closing twice is a no-op."""
function Base.close(s::Store)
    h = s.handle
    h == C_NULL && return nothing
    s.handle = C_NULL
    st = ccall(_sym(:npk_close), Int32, (Ptr{Cvoid},), h)
    _check(st)
    return nothing
end

Base.isopen(s::Store) = s.handle != C_NULL

Base.show(io::IO, s::Store) =
    print(io, "NumPack.Store(", repr(s.path), isopen(s) ? "" : ", closed", ")")

function _handle(s::Store)
    s.handle == C_NULL && throw(ArgumentError("the NumPack store $(repr(s.path)) is closed"))
    return s.handle
end

# --- strided arguments ---------------------------------------------------------------------
# An array the library can read or write in place: Arrays, strided views (including negative
# steps), reshapes, and PermutedDimsArrays of those (e.g. a batch view). Anything else is
# copied into an Array first.
function _strided(A::AbstractArray)
    A isa StridedArray && return A
    A isa PermutedDimsArray && parent(A) isa StridedArray && return A
    return collect(A)
end

_shape(A::AbstractArray) = UInt64[d for d in size(A)]
_byte_strides(A::AbstractArray{T}) where {T} = Int64[s * sizeof(T) for s in strides(A)]

function _checked_eltype(::Type{T}) where {T}
    T <: NpkEltype || throw(ArgumentError("NumPack cannot store elements of type $T"))
    return dtype_code(T)
end

# Julia 1-based row numbers -> the library's 0-based logical indices.
function _indices(rows)
    idx = Int64[]
    for r in rows
        r isa Integer || throw(ArgumentError("row indices must be integers, got $(repr(r))"))
        r >= 1 || throw(ArgumentError("row indices are 1-based, got $r"))
        push!(idx, Int64(r) - 1)
    end
    return idx
end

# --- whole arrays --------------------------------------------------------------------------
"""
    save!(s::Store, name, A)

Creates or replaces array `name` with `A` (npk_save). `A` is passed as it is in memory, with
`size(A)` and byte strides, so NumPy reads `arr[i-1, j-1] == A[i, j]`.
"""
function save!(s::Store, name::AbstractString, A::AbstractArray{T,N}) where {T,N}
    code = _checked_eltype(T)
    B = _strided(A)
    shape = _shape(B)
    strides = _byte_strides(B)
    st = GC.@preserve B ccall(_sym(:npk_save), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid}, Ptr{Int64}),
        _handle(s), name, code, UInt32(N), shape, Ptr{Cvoid}(pointer(B)), strides)
    _check(st)
    return s
end

"""
    load!(s::Store, name, A)

Reads array `name` into `A` (npk_load), whose element type and size must be the stored
array's (NPK_DTYPE_MISMATCH / NPK_SHAPE_MISMATCH otherwise). `A` may be any strided array.
"""
function load!(s::Store, name::AbstractString, A::AbstractArray{T,N}) where {T,N}
    code = _checked_eltype(T)
    (A isa StridedArray || (A isa PermutedDimsArray && parent(A) isa StridedArray)) ||
        throw(ArgumentError("load! needs a strided array, got $(typeof(A))"))
    shape = _shape(A)
    strides = _byte_strides(A)
    st = GC.@preserve A ccall(_sym(:npk_load), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid}, Ptr{Int64}),
        _handle(s), name, code, UInt32(N), shape, Ptr{Cvoid}(pointer(A)), strides)
    _check(st)
    return A
end

"""
    load(s::Store, name) -> Array{T,N}

Reads array `name` into a new column-major Array with the stored shape: `A[i, j] ==
arr[i-1, j-1]` for NumPy's `arr`.
"""
function load(s::Store, name::AbstractString)
    raw = _raw_info(s, name)
    T = eltype_of(raw.dtype)
    dims = ntuple(i -> Int(raw.shape[i]), Int(raw.ndim))
    return load!(s, name, Array{T}(undef, dims))
end

"""`append!(s, name, A)`: appends the rows of `A` (size `(rows, rest...)`) to array `name`."""
function Base.append!(s::Store, name::AbstractString, A::AbstractArray{T,N}) where {T,N}
    code = _checked_eltype(T)
    B = _strided(A)
    shape = _shape(B)
    strides = _byte_strides(B)
    st = GC.@preserve B ccall(_sym(:npk_append), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid}, Ptr{Int64}),
        _handle(s), name, code, UInt32(N), shape, Ptr{Cvoid}(pointer(B)), strides)
    _check(st)
    return s
end

"""
    replace_rows!(s, name, rows, A)

Overwrites rows `rows` (1-based) of array `name`, in place, with `A` of size
`(length(rows), rest...)`.
"""
function replace_rows!(s::Store, name::AbstractString, rows, A::AbstractArray{T,N}) where {T,N}
    code = _checked_eltype(T)
    idx = _indices(rows)
    B = _strided(A)
    shape = _shape(B)
    strides = _byte_strides(B)
    st = GC.@preserve B ccall(_sym(:npk_replace_rows), Int32,
        (Ptr{Cvoid}, Cstring, Ptr{Int64}, UInt64, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid},
            Ptr{Int64}),
        _handle(s), name, idx, UInt64(length(idx)), code, UInt32(N), shape,
        Ptr{Cvoid}(pointer(B)), strides)
    _check(st)
    return s
end

"""
    get_rows(s, name, rows) -> Array{T,N}

Reads rows `rows` (1-based) of array `name` into a new Array of size `(length(rows), rest...)`.
"""
function get_rows(s::Store, name::AbstractString, rows)
    raw = _raw_info(s, name)
    raw.ndim >= 1 || throw(ArgumentError("array $(repr(name)) has no rows (it is 0-dimensional)"))
    T = eltype_of(raw.dtype)
    idx = _indices(rows)
    dims = ntuple(i -> i == 1 ? length(idx) : Int(raw.shape[i]), Int(raw.ndim))
    A = Array{T}(undef, dims)
    shape = _shape(A)
    strides = _byte_strides(A)
    st = GC.@preserve A ccall(_sym(:npk_get_rows), Int32,
        (Ptr{Cvoid}, Cstring, Ptr{Int64}, UInt64, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid},
            Ptr{Int64}),
        _handle(s), name, idx, UInt64(length(idx)), dtype_code(T), UInt32(ndims(A)), shape,
        Ptr{Cvoid}(pointer(A)), strides)
    _check(st)
    return A
end

# --- catalogue -----------------------------------------------------------------------------
"""`drop!(s, name)` / `drop!(s, names)`: removes arrays, all of them or (one missing) none."""
drop!(s::Store, name::AbstractString) = drop!(s, [name])

function drop!(s::Store, names::AbstractVector{<:AbstractString})
    strs = String[String(n) for n in names]
    st = GC.@preserve strs begin
        # Cstring conversion refuses embedded NULs (ArgumentError), as ccall would.
        ptrs = Cstring[Base.unsafe_convert(Cstring, n) for n in strs]
        ccall(_sym(:npk_drop), Int32, (Ptr{Cvoid}, Ptr{Cstring}, UInt64),
            _handle(s), ptrs, UInt64(length(ptrs)))
    end
    _check(st)
    return s
end

"""`drop_rows!(s, name, rows)`: marks rows (1-based) deleted; `compact!` reclaims them."""
function drop_rows!(s::Store, name::AbstractString, rows)
    idx = _indices(rows)
    st = ccall(_sym(:npk_drop_rows), Int32, (Ptr{Cvoid}, Cstring, Ptr{Int64}, UInt64),
        _handle(s), name, idx, UInt64(length(idx)))
    _check(st)
    return s
end

"""`compact!(s, name)` rewrites one array without its deleted rows; `compact!(s)` every one."""
function compact!(s::Store, name::Union{AbstractString,Nothing}=nothing)
    h = _handle(s)
    st = if name === nothing
        ccall(_sym(:npk_compact), Int32, (Ptr{Cvoid}, Cstring), h, Cstring(C_NULL))
    else
        ccall(_sym(:npk_compact), Int32, (Ptr{Cvoid}, Cstring), h, name)
    end
    _check(st)
    return s
end

"""`clone!(s, src, dst)`: copies array `src` to the new name `dst`."""
function clone!(s::Store, src::AbstractString, dst::AbstractString)
    st = ccall(_sym(:npk_clone), Int32, (Ptr{Cvoid}, Cstring, Cstring),
        _handle(s), src, dst)
    _check(st)
    return s
end

"""`haskey(s, name)`: whether array `name` exists."""
function Base.haskey(s::Store, name::AbstractString)
    out = Ref{Int32}(0)
    st = ccall(_sym(:npk_has), Int32, (Ptr{Cvoid}, Cstring, Ref{Int32}),
        _handle(s), name, out)
    _check(st)
    return out[] != 0
end

"""`list(s)` / `keys(s)`: the array names, sorted."""
function list(s::Store)
    h = _handle(s)
    needed = Ref{UInt64}(0)
    count = Ref{UInt64}(0)
    while true
        st = ccall(_sym(:npk_list), Int32,
            (Ptr{Cvoid}, Ptr{UInt8}, UInt64, Ref{UInt64}, Ref{UInt64}),
            h, C_NULL, UInt64(0), needed, count)
        _check(st)
        needed[] == 0 && return String[]
        buf = Vector{UInt8}(undef, Int(needed[]))
        st = ccall(_sym(:npk_list), Int32,
            (Ptr{Cvoid}, Ptr{UInt8}, UInt64, Ref{UInt64}, Ref{UInt64}),
            h, buf, UInt64(length(buf)), needed, count)
        st == NPK_BUFFER_TOO_SMALL && continue  # the catalogue grew in between: ask again
        _check(st)
        names = String[]
        start = 1
        for i in 1:Int(needed[])
            if buf[i] == 0x00
                push!(names, String(buf[start:i-1]))
                start = i + 1
            end
        end
        length(names) == count[] ||
            error("npk_list reported $(count[]) names but wrote $(length(names))")
        return names
    end
end

Base.keys(s::Store) = list(s)

"""What `info` reports, in NumPy's shape order (which is also the Julia array's size)."""
struct ArrayInfo
    eltype::DataType
    dtype::Int32
    shape::Tuple{Vararg{Int}}
    nbytes::Int
    modify_time_us::UInt64
    physical_rows::Int
    segmented::Bool
end

function _raw_info(s::Store, name::AbstractString)
    out = _sized(NpkArrayInfo)
    st = ccall(_sym(:npk_info), Int32, (Ptr{Cvoid}, Cstring, Ref{NpkArrayInfo}),
        _handle(s), name, out)
    _check(st)
    return out[]
end

"""`info(s, name)`: element type, shape, size, modify time and physical rows of an array."""
function info(s::Store, name::AbstractString)
    r = _raw_info(s, name)
    return ArrayInfo(eltype_of(r.dtype), r.dtype, ntuple(i -> Int(r.shape[i]), Int(r.ndim)),
        Int(r.nbytes), r.modify_time_us, Int(r.physical_rows), r.segmented != 0)
end

"""`refresh!(s)`: makes a read-only handle see commits made since it opened."""
function refresh!(s::Store)
    st = ccall(_sym(:npk_refresh), Int32, (Ptr{Cvoid},), _handle(s))
    _check(st)
    return s
end

# --- sized arrays and blocks (hyperslabs) --------------------------------------------------
"""
    StoredArray{T,N}

A handle on a stored array, returned by `s[name]` and `create!`; it holds no data. It is an
`AbstractArray{T,N}` whose `size` is the array's shape when the handle was made (take a new
handle after `append!`, `drop_rows!` or `save!` change it). Indexing it with integers, unit
ranges and colons reads that block with one npk_read_block; assigning to such an index writes
the block in place with one npk_write_block. Same index convention as `load`: `h[i, j]` is
NumPy's `arr[i-1, j-1]`, so `s["u"][5:8, :]` is `arr[4:8, :]`, a new 4×n Array. An integer
index drops its dimension (`s["u"][5, :]` is a Vector), as for Arrays. `Array(h)`,
`collect(h)` and `copy(h)` read the whole array with one npk_load.
"""
struct StoredArray{T,N} <: AbstractArray{T,N}
    store::Store
    name::String
    dims::NTuple{N,Int}
end

Base.size(h::StoredArray) = h.dims
Base.Array(h::StoredArray) = load(h.store, h.name)
Base.collect(h::StoredArray) = Array(h)
Base.copy(h::StoredArray) = Array(h)
# The generic AbstractArray show would read the array one element (one call) at a time.
Base.show(io::IO, h::StoredArray{T,N}) where {T,N} =
    print(io, "NumPack.StoredArray{", T, ",", N, "}(", repr(h.name), ", ", h.dims, ")")
Base.show(io::IO, ::MIME"text/plain", h::StoredArray) = show(io, h)

"""
    s[name] -> StoredArray

A handle on array `name` (npk_info; no data is read): `s["u"][5:8, :]` reads rows 5 to 8,
`s["u"][5:8, :] = B` writes them, `Array(s["u"])` reads everything (as `load(s, "u")`).
"""
function Base.getindex(s::Store, name::AbstractString)
    raw = _raw_info(s, name)
    dims = ntuple(i -> Int(raw.shape[i]), Int(raw.ndim))
    return StoredArray{eltype_of(raw.dtype),length(dims)}(s, String(name), dims)
end
Base.setindex!(s::Store, A::AbstractArray, name::AbstractString) = save!(s, name, A)

"""
    create!(s, name, T, dims...; fill=nothing) -> StoredArray{T,N}

Creates array `name` of element type `T` and size `dims` without data (npk_create, HDF5's
H5Dcreate): the data file is only sized (sparse) and every element reads as zero, or as
`fill`, until written. One atomic commit; NPK_ALREADY_EXISTS if the name is taken. NumPy sees
shape `dims`, in the same order (as for `save!`). Returns the handle:
`u = create!(s, "u", Float64, 100, 3); u[5:8, :] = B`.
"""
function create!(s::Store, name::AbstractString, ::Type{T}, dims::Integer...;
    fill=nothing) where {T}
    code = _checked_eltype(T)
    all(d -> d >= 0, dims) || throw(ArgumentError("negative size $dims for array $(repr(name))"))
    shape = UInt64[d for d in dims]
    value = fill === nothing ? C_NULL : Ref{T}(convert(T, fill))
    st = ccall(_sym(:npk_create), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid}),
        _handle(s), name, code, UInt32(length(dims)), shape, value)
    _check(st)
    return StoredArray{T,length(dims)}(s, String(name), Tuple(Int(d) for d in dims))
end
create!(s::Store, name::AbstractString, ::Type{T}, dims::Tuple; fill=nothing) where {T} =
    create!(s, name, T, dims...; fill=fill)

const BlockIndex = Union{Integer,AbstractUnitRange{<:Integer},Colon}

_block_range(i::Integer, n::Int) = Int(i):Int(i)
_block_range(r::AbstractUnitRange{<:Integer}, n::Int) = Int(first(r)):Int(last(r))
_block_range(::Colon, n::Int) = 1:n

# The library's offset and count (0-based, same dimension order) of the block `I` of `h`, and
# the size of the result: the dimensions not indexed by an integer.
function _block(h::StoredArray{T,N}, I) where {T,N}
    ranges = ntuple(d -> _block_range(I[d], h.dims[d]), N)
    checkbounds(Bool, h, ranges...) || throw(BoundsError(h, I))
    offset = UInt64[isempty(r) ? 0 : first(r) - 1 for r in ranges]
    count = UInt64[length(r) for r in ranges]
    kept = Tuple(length(ranges[d]) for d in 1:N if !(I[d] isa Integer))
    return offset, count, kept
end

# Byte strides of `B` (which holds the block without its integer-indexed dimensions) as a
# block of all N dimensions: a dimension of extent 1 may have any stride.
function _block_strides(B::AbstractArray{T}, I) where {T}
    s = _byte_strides(B)
    out = Int64[]
    k = 0
    for i in I
        if i isa Integer
            push!(out, Int64(sizeof(T)))
        else
            k += 1
            push!(out, s[k])
        end
    end
    return out
end

function Base.getindex(h::StoredArray{T,N}, I::Vararg{BlockIndex,N}) where {T,N}
    offset, count, kept = _block(h, I)
    A = Array{T}(undef, kept)
    strides = _block_strides(A, I)
    st = GC.@preserve A ccall(_sym(:npk_read_block), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{UInt64}, Ptr{Cvoid}, Ptr{Int64}),
        _handle(h.store), h.name, dtype_code(T), UInt32(N), offset, count,
        Ptr{Cvoid}(pointer(A)), strides)
    _check(st)
    return all(i -> i isa Integer, I) ? A[] : A
end

function Base.setindex!(h::StoredArray{T,N}, X, I::Vararg{BlockIndex,N}) where {T,N}
    offset, count, kept = _block(h, I)
    full = Tuple(Int(c) for c in count)
    if X isa AbstractArray
        B = _strided(eltype(X) === T ? X : convert(Array{T}, X))
        size(B) == full || size(B) == kept || throw(DimensionMismatch(
            "a block of size $full (or $kept) cannot be assigned from an array of size $(size(B))"))
        strides = size(B) == full ? _byte_strides(B) : _block_strides(B, I)
    elseif all(i -> i isa Integer, I)
        B = Base.fill(convert(T, X))
        strides = _block_strides(B, I)
    else
        throw(ArgumentError("indexed assignment with a single value to possibly many " *
                            "locations is not supported; perhaps use broadcasting `.=` instead?"))
    end
    st = GC.@preserve B ccall(_sym(:npk_write_block), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{UInt64}, Ptr{Cvoid}, Ptr{Int64}),
        _handle(h.store), h.name, dtype_code(T), UInt32(N), offset, count,
        Ptr{Cvoid}(pointer(B)), strides)
    _check(st)
    return h
end

# --- views ---------------------------------------------------------------------------------
# Wraps a view's C-order memory: a reversed-dims Array over it, permuted back to NumPy's
# dimension order. Zero-element arrays (data == NULL) get a fresh empty Array.
function _wrap_view(v::NpkView)
    T = eltype_of(v.dtype)
    v.itemsize == sizeof(T) ||
        error("libnumpack reported item size $(v.itemsize) for $T (expected $(sizeof(T)))")
    N = Int(v.ndim)
    cdims = ntuple(i -> Int(v.shape[i]), N)
    expected = sizeof(T)
    for d in N:-1:1  # the strides must be C order (the header promises it)
        cdims[d] > 1 && v.strides[d] != expected &&
            error("libnumpack returned a view that is not C-contiguous: strides " *
                  "$(v.strides[1:N]) for shape $cdims")
        expected *= cdims[d]
    end
    rdims = reverse(cdims)
    P = v.data == C_NULL ? Array{T}(undef, rdims) :
        unsafe_wrap(Array, Ptr{T}(v.data), rdims; own=false)
    N == 0 && return P  # a 0-dimensional Array: nothing to permute
    return PermutedDimsArray(P, ntuple(i -> N + 1 - i, N))
end

"""
    withview(f, s::Store, name)

Calls `f(A)` with a read-only, zero-copy view of array `name` (npk_view_open), released when
`f` returns (npk_view_release). `A` is a PermutedDimsArray over the mapping (see the file
header); do not write to it and do not keep it after `f` returns (copy it: `collect(A)`).
"""
function withview(f::Function, s::Store, name::AbstractString)
    v = _sized(NpkView)
    st = ccall(_sym(:npk_view_open), Int32, (Ptr{Cvoid}, Cstring, Ref{NpkView}),
        _handle(s), name, v)
    _check(st)
    try
        return f(_wrap_view(v[]))
    finally
        ccall(_sym(:npk_view_release), Int32, (Ref{NpkView},), v)
    end
end

# ------------------------------------------------------------------------------------------
# Batches
# ------------------------------------------------------------------------------------------
"""
An open batch (npk_batch). Prefer the do-block forms `batch(f, s)` and `writable_batch(f, s)`,
which end the batch when `f` returns and abort it when `f` throws.
"""
mutable struct Batch
    handle::Ptr{Cvoid}
    store::Store     # keeps the Store (and so its handle) alive while the batch is open
    writable::Bool

    function Batch(handle::Ptr{Cvoid}, store::Store, writable::Bool)
        b = new(handle, store, writable)
        finalizer(_finalize_batch, b)
        return b
    end
end

function _finalize_batch(b::Batch)
    h = b.handle
    b.handle = C_NULL
    h == C_NULL || ccall(_sym(:npk_batch_abort), Int32, (Ptr{Cvoid},), h)
    return nothing
end

function _handle(b::Batch)
    b.handle == C_NULL && throw(ArgumentError("the NumPack batch has already ended"))
    return b.handle
end

Base.isopen(b::Batch) = b.handle != C_NULL

"""`batch_begin(s; memory_limit_mb=0)`: begins a cache batch (NumPack's batch_mode)."""
function batch_begin(s::Store; memory_limit_mb::Integer=0)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    st = ccall(_sym(:npk_batch_begin), Int32, (Ptr{Cvoid}, UInt64, Ref{Ptr{Cvoid}}),
        _handle(s), UInt64(memory_limit_mb), out)
    _check(st)
    return Batch(out[], s, false)
end

"""`writable_batch_begin(s)`: begins a writable mmap batch (writable_batch_mode)."""
function writable_batch_begin(s::Store)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    st = ccall(_sym(:npk_writable_batch_begin), Int32, (Ptr{Cvoid}, Ref{Ptr{Cvoid}}),
        _handle(s), out)
    _check(st)
    return Batch(out[], s, true)
end

"""
    commit!(b::Batch)

Ends the batch (npk_batch_end). On failure nothing new is committed and the batch stays open
(retry `commit!` or `abort!`); the one exception, NPK_NOT_DURABLE (a durable store's fsync failed
after the commit was decided), leaves the arrays committed and the batch over, and still throws.
"""
function commit!(b::Batch)
    h = _handle(b)
    st = ccall(_sym(:npk_batch_end), Int32, (Ptr{Cvoid},), h)
    if st == NPK_OK || st == NPK_NOT_DURABLE
        b.handle = C_NULL
    end
    st == NPK_OK && return nothing
    throw(_error(st))
end

"""`abort!(b)`: discards the batch (npk_batch_abort). Aborting an ended batch is a no-op."""
function abort!(b::Batch)
    h = b.handle
    h == C_NULL && return nothing
    b.handle = C_NULL
    st = ccall(_sym(:npk_batch_abort), Int32, (Ptr{Cvoid},), h)
    _check(st)
    return nothing
end

# Ends the batch when `f` returns, aborts it when `f` (or the end itself) throws: a failed end
# leaves the batch open with nothing committed, and the abort frees it. An abort error never
# hides the exception that caused it.
function _run_batch(f, b::Batch)
    ok = false
    try
        result = f(b)
        commit!(b)
        ok = true
        return result
    finally
        if !ok
            try
                abort!(b)
            catch
            end
        end
    end
end

"""
    batch(f, s; memory_limit_mb=0)

Runs `f(b)` in a cache batch (NumPack's batch_mode): `load(b, name)` reads an array once and
returns a writable view of its cached copy; `save!(b, name, A)` marks it to be written. Every
saved array is committed together when `f` returns; if `f` throws, the batch is aborted and the
store is left exactly as it was. Returns `f`'s result.
"""
batch(f::Function, s::Store; memory_limit_mb::Integer=0) =
    _run_batch(f, batch_begin(s; memory_limit_mb=memory_limit_mb))

"""
    writable_batch(f, s)

Runs `f(b)` in a writable batch (writable_batch_mode): `load(b, name)` returns a view of the
data file mapped shared and writable, so writes to it go to the file in place (not atomically;
an abort does not undo them). Shapes and dtypes cannot change.
"""
writable_batch(f::Function, s::Store) = _run_batch(f, writable_batch_begin(s))

"""
    load(b::Batch, name) -> PermutedDimsArray

The array's memory inside the batch (npk_batch_load), without a copy: `A[i, j] == arr[i-1, j-1]`
and `parent(A)` is the row-major memory as an Array with reversed dims. Valid until the batch
ends or aborts, or (cache batch) until `name` is saved from another buffer or evicted.
"""
function load(b::Batch, name::AbstractString)
    v = _sized(NpkView)
    st = ccall(_sym(:npk_batch_load), Int32, (Ptr{Cvoid}, Cstring, Ref{NpkView}),
        _handle(b), name, v)
    _check(st)
    return _wrap_view(v[])
end

"""
    save!(b::Batch, name, A)

Saves `A` in the batch (npk_batch_save). Passing the array `load(b, name)` returned marks it
changed without a copy; any other array is copied (cache batch: its shape and element type
may differ; writable batch: they must not).
"""
function save!(b::Batch, name::AbstractString, A::AbstractArray{T,N}) where {T,N}
    code = _checked_eltype(T)
    B = _strided(A)
    shape = _shape(B)
    strides = _byte_strides(B)
    st = GC.@preserve B ccall(_sym(:npk_batch_save), Int32,
        (Ptr{Cvoid}, Cstring, Int32, UInt32, Ptr{UInt64}, Ptr{Cvoid}, Ptr{Int64}),
        _handle(b), name, code, UInt32(N), shape, Ptr{Cvoid}(pointer(B)), strides)
    _check(st)
    return b
end

# ------------------------------------------------------------------------------------------
# Attributes
# ------------------------------------------------------------------------------------------
"""
    attrs(s[, array]) -> Attrs
    attrs(b::Batch[, array]) -> Attrs

Dictionary-like access to the attributes of the store (`array` omitted) or of array `array`:
`attrs(s)["step"] = 100`, `attrs(s, "u")["units"] = "K"`, `attrs(s)["step"]`, `keys`,
`haskey`, `get`, `delete!`. Values are `Int64`, `Float64`, `String`, `Vector{Int64}` or
`Vector{Float64}` (other integers and reals are converted to these; an empty vector keeps its
element type). Every assignment or `delete!` on a Store is one atomic commit
(npk_attr_set / npk_attr_delete). On a cache batch (`attrs(b)` inside `batch(s) do b ... end`)
they are committed with the batch's arrays when it ends (npk_batch_attr_set / _delete); a batch's
`Attrs` are write-only: read them from the store.
"""
struct Attrs{H}
    owner::H
    array::Union{Nothing,String}
end

attrs(s::Store, array::Union{Nothing,AbstractString}=nothing) =
    Attrs{Store}(s, array === nothing ? nothing : String(array))
attrs(b::Batch, array::Union{Nothing,AbstractString}=nothing) =
    Attrs{Batch}(b, array === nothing ? nothing : String(array))

# The array's name, or NULL for the store's own attributes.
_cowner(a::Attrs) = a.array === nothing ? Cstring(C_NULL) : a.array

# (type code, buffer, length) of a value, as npk_attr_set takes them.
_attr_data(v::Integer) = (NPK_ATTR_INT64, Int64[v], UInt64(1))
_attr_data(v::Real) = (NPK_ATTR_FLOAT64, Float64[v], UInt64(1))
function _attr_data(v::AbstractString)
    bytes = Vector{UInt8}(codeunits(String(v)))
    return (NPK_ATTR_STRING, bytes, UInt64(length(bytes)))
end
_attr_data(v::AbstractVector{<:Integer}) =
    (NPK_ATTR_INT64_VECTOR, Vector{Int64}(v), UInt64(length(v)))
_attr_data(v::AbstractVector{<:Real}) =
    (NPK_ATTR_FLOAT64_VECTOR, Vector{Float64}(v), UInt64(length(v)))
_attr_data(v) = throw(ArgumentError(
    "an attribute is an Int64, a Float64, a String or a Vector of Int64 or Float64, not $(typeof(v))"))

function Base.setindex!(a::Attrs{Store}, v, key::AbstractString)
    t, data, len = _attr_data(v)
    st = GC.@preserve data ccall(_sym(:npk_attr_set), Int32,
        (Ptr{Cvoid}, Cstring, Cstring, Int32, Ptr{Cvoid}, UInt64),
        _handle(a.owner), _cowner(a), key, t, Ptr{Cvoid}(pointer(data)), len)
    _check(st)
    return a
end

function Base.setindex!(a::Attrs{Batch}, v, key::AbstractString)
    t, data, len = _attr_data(v)
    st = GC.@preserve data ccall(_sym(:npk_batch_attr_set), Int32,
        (Ptr{Cvoid}, Cstring, Cstring, Int32, Ptr{Cvoid}, UInt64),
        _handle(a.owner), _cowner(a), key, t, Ptr{Cvoid}(pointer(data)), len)
    _check(st)
    return a
end

function Base.delete!(a::Attrs{Store}, key::AbstractString)
    st = ccall(_sym(:npk_attr_delete), Int32, (Ptr{Cvoid}, Cstring, Cstring),
        _handle(a.owner), _cowner(a), key)
    _check(st)
    return a
end

function Base.delete!(a::Attrs{Batch}, key::AbstractString)
    st = ccall(_sym(:npk_batch_attr_delete), Int32, (Ptr{Cvoid}, Cstring, Cstring),
        _handle(a.owner), _cowner(a), key)
    _check(st)
    return a
end

"""`attrs(s)[key]`: the value (npk_attr_query for its type and length, then npk_attr_get)."""
function Base.getindex(a::Attrs{Store}, key::AbstractString)
    h = _handle(a.owner)
    while true
        t = Ref{Int32}(0)
        n = Ref{UInt64}(0)
        st = ccall(_sym(:npk_attr_query), Int32,
            (Ptr{Cvoid}, Cstring, Cstring, Ref{Int32}, Ref{UInt64}), h, _cowner(a), key, t, n)
        _check(st)
        buf = if t[] == NPK_ATTR_INT64 || t[] == NPK_ATTR_INT64_VECTOR
            Vector{Int64}(undef, Int(n[]))
        elseif t[] == NPK_ATTR_FLOAT64 || t[] == NPK_ATTR_FLOAT64_VECTOR
            Vector{Float64}(undef, Int(n[]))
        else
            Vector{UInt8}(undef, Int(n[]) + 1)  # the text and its NUL
        end
        got = Ref{UInt64}(0)
        st = GC.@preserve buf ccall(_sym(:npk_attr_get), Int32,
            (Ptr{Cvoid}, Cstring, Cstring, Int32, Ptr{Cvoid}, UInt64, Ref{UInt64}),
            h, _cowner(a), key, t[], Ptr{Cvoid}(pointer(buf)), UInt64(length(buf)), got)
        # Another writer changed the value in between: ask again.
        (st == NPK_BUFFER_TOO_SMALL || st == NPK_DTYPE_MISMATCH) && continue
        _check(st)
        t[] == NPK_ATTR_STRING && return String(buf[1:Int(got[])])
        t[] == NPK_ATTR_INT64 && return buf[1]
        t[] == NPK_ATTR_FLOAT64 && return buf[1]
        return buf[1:Int(got[])]
    end
end

"""`keys(attrs(s))`: the attribute keys, sorted (npk_attr_list)."""
function Base.keys(a::Attrs{Store})
    h = _handle(a.owner)
    needed = Ref{UInt64}(0)
    count = Ref{UInt64}(0)
    while true
        st = ccall(_sym(:npk_attr_list), Int32,
            (Ptr{Cvoid}, Cstring, Ptr{UInt8}, UInt64, Ref{UInt64}, Ref{UInt64}),
            h, _cowner(a), C_NULL, UInt64(0), needed, count)
        _check(st)
        needed[] == 0 && return String[]
        buf = Vector{UInt8}(undef, Int(needed[]))
        st = ccall(_sym(:npk_attr_list), Int32,
            (Ptr{Cvoid}, Cstring, Ptr{UInt8}, UInt64, Ref{UInt64}, Ref{UInt64}),
            h, _cowner(a), buf, UInt64(length(buf)), needed, count)
        st == NPK_BUFFER_TOO_SMALL && continue
        _check(st)
        out = String[]
        start = 1
        for i in 1:Int(needed[])
            if buf[i] == 0x00
                push!(out, String(buf[start:i-1]))
                start = i + 1
            end
        end
        return out
    end
end

Base.haskey(a::Attrs{Store}, key::AbstractString) = key in keys(a)
Base.get(a::Attrs{Store}, key::AbstractString, default) = haskey(a, key) ? a[key] : default
Base.length(a::Attrs{Store}) = length(keys(a))
Base.Dict(a::Attrs{Store}) = Dict{String,Any}(k => a[k] for k in keys(a))

end # module NumPack

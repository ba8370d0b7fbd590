"""Static checks of julia/src/NumPack.jl against include/numpack.h (no Julia runtime needed).

(i) every header function is ccall-ed (or listed in NOT_WRAPPED with a reason); (ii) each ccall's
return and argument types match the prototype one to one (see jlparse for the mapping); (iii) the
Julia structs mirror the C structs field for field; plus the constants, the dtype table, the
ccall form itself and that every returned status is checked.
"""

import os
import re
from pathlib import Path

import pytest

import jlparse
from jlparse import canon_c, canon_c_field, canon_julia, canon_matches

# Header functions the Julia module deliberately does not call: name -> reason.
NOT_WRAPPED = {}

# Status-returning ccalls whose status is deliberately ignored: (enclosing function, C function).
STATUS_IGNORED = {
    ("_finalize_store", "npk_close"): "a finalizer must not throw",
    ("_finalize_batch", "npk_batch_abort"): "a finalizer must not throw",
    ("withview", "npk_view_release"): "in a finally block; releasing cannot usefully fail",
}

MODULE = jlparse.parse_julia_module()
HEADER = jlparse.parse_header()


def test_header_parser_sees_the_whole_api(header):
    # Guards the parser itself: the API the brief lists, and the two structs.
    expected = {
        "npk_open", "npk_close", "npk_save", "npk_load", "npk_append", "npk_replace_rows",
        "npk_get_rows", "npk_drop", "npk_drop_rows", "npk_compact", "npk_clone", "npk_has",
        "npk_list", "npk_info", "npk_refresh", "npk_view_open", "npk_view_release",
        "npk_batch_begin", "npk_writable_batch_begin", "npk_batch_load", "npk_batch_save",
        "npk_batch_end", "npk_batch_abort", "npk_dtype_size", "npk_status_str",
        "npk_last_error", "npk_version", "npk_version_number",
        "npk_create", "npk_read_block", "npk_write_block",
        "npk_attr_set", "npk_attr_delete", "npk_attr_query", "npk_attr_get", "npk_attr_list",
        "npk_batch_attr_set", "npk_batch_attr_delete",
    }
    assert set(header.functions) == expected
    # every prototype in the raw text was parsed (count `npk_xxx(` declarations)
    protos = set(re.findall(r"^\S.*?\b(npk_\w+)\(", header.text, re.M))
    assert protos == expected
    assert set(header.structs) == {"npk_view", "npk_array_info"}
    assert header.defines["NPK_MAX_DIMS"] == 32


def test_every_header_function_is_called(module, header):
    called = {c.func for c in module.ccalls}
    missing = set(header.functions) - called - set(NOT_WRAPPED)
    assert not missing, f"header functions never ccall-ed by NumPack.jl: {sorted(missing)}"
    unknown = called - set(header.functions)
    assert not unknown, f"ccalls of functions the header does not declare: {sorted(unknown)}"
    assert not (set(NOT_WRAPPED) & called), "listed as not wrapped but called"
    for name, reason in NOT_WRAPPED.items():
        assert reason.strip(), f"{name} needs a reason"


def _function_body(code, name):
    """The text of `function name(...) ... end` (top level, 0-indented `end`)."""
    m = re.search(rf"^function {re.escape(name)}\(.*?^end\b", code, re.M | re.S)
    assert m, f"no top-level function {name}"
    return m.group(0)


# The only functions that may use Libdl: find and open the library, look up its symbols.
LOADER = ("_beside_package", "_open_default", "_load!")


def test_ccall_form(module):
    assert module.ccalls, "no ccall found"
    assert not module.other_ccalls, f"ccalls not of the form ccall(_sym(:npk_x), ...): " \
        f"{module.other_ccalls}"
    code = module.code
    assert "@ccall" not in code and "cglobal" not in code
    # every :npk_ symbol outside the _SYMBOLS table is the first argument of a ccall
    table = module.const_block("_SYMBOLS")
    syms = len(re.findall(r":npk_\w+", code)) - len(re.findall(r":npk_\w+", table))
    assert syms == len(module.ccalls)
    # dlopen/dlsym only in the loader; every ccall goes through _sym's table
    rest = code
    for name in LOADER:
        rest = rest.replace(_function_body(code, name), "")
    for banned in ("dlsym", "dlopen", "Libdl."):
        assert banned not in rest, f"{banned} used outside {LOADER}"


def test_symbol_table_is_the_header(module, header):
    # _load! resolves exactly these at open time: a missing one fails there with a clear
    # message instead of at some later call, and a finalizer never has to look one up.
    table = re.findall(r":(npk_\w+)", module.const_block("_SYMBOLS"))
    assert len(table) == len(set(table))
    assert set(table) == set(header.functions) == {c.func for c in module.ccalls}
    assert "for name in _SYMBOLS" in _function_body(module.code, "_load!")
    assert re.search(r"^function _sym\(name::Symbol\)\n    t = _FNS\[\]\n"
                     r"    isempty\(t\) && \(t = _load!\(nothing\)\)\n    return t\[name\]\nend",
                     module.code, re.M)


def _outside_functions(code):
    """`code` without function bodies: long forms (any indentation, up to the `end` at the
    same indentation) and short forms `f(...) = ...` with their more-indented continuations."""
    code = re.sub(r"^(\s*)function\b.*?^\1end\b", "", code, flags=re.M | re.S)
    out, skip_deeper = [], None
    for ln in code.split("\n"):
        indent = len(ln) - len(ln.lstrip())
        if skip_deeper is not None and (indent > skip_deeper or not ln.strip()):
            continue
        skip_deeper = None
        if re.match(r"^\s*[\w.!]+(?:\{[^}]*\})?\(.*\)\s*(?:where\s*(?:\{[^}]*\}|\w+)\s*)?=(?!=)",
                    ln):
            skip_deeper = indent
            continue
        out.append(ln)
    return "\n".join(out)


def test_library_is_found_at_run_time(module):
    # Nothing at top level reads ENV or opens the library: a precompiled package would
    # otherwise keep the path of the machine (or the moment) it was built on.
    code = module.code
    top = _outside_functions(code)
    assert "const _FNS = Ref(Dict{Symbol,Ptr{Cvoid}}())" in top  # the stripping kept top level
    for banned in ("ENV", "dlopen", "dlsym", "_sym("):
        assert banned not in top, f"{banned} outside a function: evaluated at load time"
    src = module.src
    body = _function_body(src, "_open_default")
    # the order the README documents: LIBNUMPACK, then NUMPACK_PREFIX/lib, then the search path
    i_env = body.index('get(ENV, "LIBNUMPACK", "")')
    i_prefix = body.index('get(ENV, "NUMPACK_PREFIX", "")')
    i_beside = body.index("_beside_package()")
    i_default = body.index("_default_names()")
    assert i_env < i_prefix < i_beside < i_default
    assert "isfile(path) && return (Libdl.dlopen(path), normpath(path))" in body
    assert 'joinpath(prefix, "lib", "libnumpack." * Libdl.dlext)' in body
    assert '"libnumpack"' in _function_body(src, "_default_names")
    # __init__ forgets whatever a precompiled image carried
    init = _function_body(code, "__init__")
    assert "_FNS[] = Dict{Symbol,Ptr{Cvoid}}()" in init and '_LIBPATH[] = ""' in init
    assert "set_library!" in module.functions and "set_library!" not in module.exports
    assert "_load!(String(path))" in _function_body(code, "set_library!")


def _makefile_var(text, name):
    m = re.search(rf"^{name}\s*[:?]?=\s*(.+?)\s*$", text, re.M)
    assert m, f"Makefile has no {name}"
    return m.group(1)


def test_library_beside_the_package(module, tmp_path):
    # _beside_package's two joinpaths, applied where the package really is: under `make install`'s
    # default layout they must reach PREFIX/lib, and in this checkout the library CI builds.
    body = _function_body(module.src, "_beside_package")
    paths = re.findall(r"joinpath\(@__DIR__, (.*?), lib\)", body)
    assert len(paths) == 2, body
    parts = [[p.strip().strip('"') for p in path.split(",")] for path in paths]
    mk = (jlparse.REPO / "Makefile").read_text()
    prefix = tmp_path / "prefix"
    expand = {"$(PREFIX)": str(prefix), "$(DATADIR)": _makefile_var(mk, "DATADIR")}
    julia_dir = _makefile_var(mk, "JULIA_DIR")
    libdir = _makefile_var(mk, "LIBDIR")
    for _ in range(2):
        for k, v in expand.items():
            julia_dir, libdir = julia_dir.replace(k, v), libdir.replace(k, v)
    installed_src = Path(julia_dir) / "src"
    assert os.path.normpath(installed_src.joinpath(*parts[0])) == libdir
    checkout_src = jlparse.JULIA_MODULE.parent
    assert Path(os.path.normpath(checkout_src.joinpath(*parts[1]))) == \
        jlparse.REPO / "target" / "release"


def test_project_toml():
    import tomllib

    proj = tomllib.loads(jlparse.JULIA_PROJECT.read_text())
    cargo = tomllib.loads((jlparse.REPO / "Cargo.toml").read_text())
    assert proj["name"] == "NumPack"
    import uuid

    assert uuid.UUID(proj["uuid"]).version == 4
    assert proj["version"] == cargo["package"]["version"]
    assert proj["compat"]["julia"] == "1.6"
    # no [deps]: Libdl is reached as Base.Libc.Libdl, so no Manifest is needed to load it
    assert "deps" not in proj
    assert jlparse.JULIA_MODULE == jlparse.JULIA_PACKAGE / "src" / f"{proj['name']}.jl"
    assert re.search(r"^module NumPack$", jlparse.JULIA_MODULE.read_text(), re.M)


@pytest.mark.parametrize("call", MODULE.ccalls, ids=lambda c: f"{c.func}@{c.line}")
def test_ccall_matches_prototype(call, header, module):
    ret, params = header.functions[call.func]
    want_ret = canon_c(ret, header)
    got_ret = canon_julia(call.ret, module.consts)
    assert canon_matches(got_ret, want_ret), \
        f"line {call.line}: {call.func} returns {ret!r} but the ccall says {call.ret}"
    assert len(call.argtypes) == len(params), \
        f"line {call.line}: {call.func} takes {len(params)} arguments, the ccall declares " \
        f"{len(call.argtypes)}: {[str(a) for a in call.argtypes]}"
    for k, (jt, p) in enumerate(zip(call.argtypes, params)):
        want = canon_c(p.ctype, header)
        got = canon_julia(jt, module.consts)
        assert canon_matches(got, want), \
            f"line {call.line}: {call.func} argument {k + 1} ({p.name}) is {p.ctype!r} " \
            f"({want}), the ccall passes {jt} ({got})"
    assert len(call.args) == len(call.argtypes), \
        f"line {call.line}: {len(call.argtypes)} types but {len(call.args)} values: {call.text}"


def test_ccalls_of_one_function_agree(module):
    seen = {}
    for c in module.ccalls:
        sig = (str(c.ret), tuple(str(a) for a in c.argtypes))
        if c.func in seen:
            assert seen[c.func] == sig, f"{c.func}: {seen[c.func]} vs {sig} (line {c.line})"
        seen[c.func] = sig


@pytest.mark.parametrize("cname", sorted(HEADER.structs))
def test_struct_mirrors_c(cname, module, header):
    jname = {jlparse.julia_struct_to_c(j): j for j in module.structs}.get(cname)
    assert jname, f"no Julia struct for {cname} (expected CamelCase name)"
    mutable, jfields = module.structs[jname]
    assert not mutable, f"{jname} must be an immutable (isbits) struct"
    cfields = header.structs[cname]
    assert [f for f, _ in jfields] == [f for _, f, _ in cfields], "field names or order differ"
    jc = [canon_julia(t, module.consts) for _, t in jfields]
    cc = [canon_c_field(t, n, header) for t, _, n in cfields]
    for (fname, jt), j, c in zip(jfields, jc, cc):
        assert j == c, f"{jname}.{fname}: Julia {jt} ({j}) vs C {c}"
    # identical C layout (isbits structs of these field types are laid out as C does)
    joffs, jsize = jlparse.layout(jc)
    coffs, csize = jlparse.layout(cc)
    assert (joffs, jsize) == (coffs, csize)
    assert csize == {"npk_view": 560, "npk_array_info": 296}[cname]


def test_ctypes_struct_from_julia_fields_has_c_layout(lib, header):
    import ctypes

    for cname, size in (("npk_view", 560), ("npk_array_info", 296)):
        jname = "".join(w.capitalize() for w in cname.split("_"))
        st = lib.struct(jname)
        assert ctypes.sizeof(st) == size
        cc = [canon_c_field(t, n, header) for t, _, n in header.structs[cname]]
        offs, _ = jlparse.layout(cc)
        assert [getattr(st, f).offset for f, _ in st._fields_] == offs


def test_constants_mirror_header(module, header):
    for name, value in header.defines.items():
        assert name in module.consts, f"NumPack.jl lacks const {name}"
        assert module.consts[name] == value, f"{name}: Julia {module.consts[name]} != C {value}"


def test_dtype_table_matches_codes(module, header):
    m = re.search(r"^const ELTYPES = \((.*?)\)\s*$", module.code, re.M | re.S)
    assert m
    names = [n.strip() for n in m.group(1).replace("\n", " ").split(",") if n.strip()]
    c_name = {"Bool": "NPK_BOOL", "ComplexF32": "NPK_COMPLEX64", "ComplexF64": "NPK_COMPLEX128"}
    for code, jl in enumerate(names):
        want = c_name.get(jl, "NPK_" + jl.upper())
        assert header.defines[want] == code, f"{jl} at code {code}, but {want} = " \
            f"{header.defines[want]}"
    assert len(names) == 14
    u = re.search(r"^const NpkEltype = Union\{(.*?)\}\s*$", module.code, re.M | re.S)
    assert u
    assert sorted(n.strip() for n in u.group(1).split(",") if n.strip()) == sorted(names)


def test_byte_strides_and_shapes(module):
    # The layout the brief asks for: shape (size(A)...) as UInt64, strides(A) .* sizeof(T)
    # as Int64. Everything that passes an array goes through these two helpers.
    src = module.code
    assert re.search(r"_shape\(A::AbstractArray\) = UInt64\[d for d in size\(A\)\]", src)
    assert re.search(r"_byte_strides\(A::AbstractArray\{T\}\) where \{T\} = "
                     r"Int64\[s \* sizeof\(T\) for s in strides\(A\)\]", src)
    for c in module.ccalls:
        if c.func in ("npk_save", "npk_load", "npk_append", "npk_batch_save",
                      "npk_replace_rows", "npk_get_rows"):
            assert c.args[-1] == "strides" and c.args[-3] == "shape", c.text


def _enclosing_def(code, offset):
    defs = [m for m in re.finditer(
        r"^\s{0,4}(?:function\s+([\w.!]+)|([\w.!]+)\(.*\)\s*(?:where.*)?=(?!=))", code[:offset],
        re.M)]
    assert defs, offset
    d = defs[-1]
    start = d.start()
    nxt = re.search(r"^\s{0,4}(?:function\s|[\w.!]+\(.*\)\s*=(?!=))", code[offset:], re.M)
    body = code[start: offset + (nxt.start() if nxt else len(code) - offset)]
    return (d.group(1) or d.group(2)).split(".")[-1], body


def test_every_status_is_checked(module, header):
    code = module.code
    for c in module.ccalls:
        if header.functions[c.func][0] != "npk_status":
            continue
        at = code.index("ccall", sum(len(x) + 1 for x in code.split("\n")[: c.line - 1]))
        fname, body = _enclosing_def(code, at)
        close_at = jlparse._match_close(code, code.index("(", at))
        compared = re.match(r"\s*==\s*NPK_OK", code[close_at + 1:])
        checked = compared or "_check(st)" in body or "_error(st)" in body
        if (fname, c.func) in STATUS_IGNORED:
            continue
        assert checked, f"line {c.line}: the status of {c.func} in {fname} is never checked"


def test_julia_source_parses():
    ts = pytest.importorskip("tree_sitter")
    tsj = pytest.importorskip("tree_sitter_julia")
    parser = ts.Parser(ts.Language(tsj.language()))
    for path in (jlparse.JULIA_MODULE, jlparse.JULIA_EXAMPLE):
        tree = parser.parse(path.read_bytes())
        assert not tree.root_node.has_error, f"{path.name} has a syntax error"
    for bad in (b"f(x))\n", b"struct A\n    x::Int\n", b"x = [1, 2\ny = 3\n"):
        assert parser.parse(bad).root_node.has_error  # the checker does catch errors


def test_struct_refs_set_struct_size():
    """Every NpkView / NpkArrayInfo passed to the library comes from `_sized` (struct_size =
    sizeof, the rest zero, as NPK_VIEW_INIT): the library refuses a zero struct_size, and an
    uninitialised `Ref{T}()` holds garbage there."""
    code = jlparse.JULIA_MODULE.read_text()
    for t in ("NpkView", "NpkArrayInfo"):
        assert not re.search(r"Ref\{%s\}\s*\(" % t, code), f"an uninitialised Ref{{{t}}}() is passed"
        assert re.search(r"_sized\(%s\)" % t, code), f"no _sized({t})"
    m = re.search(r"^_sized\(::Type\{T\}\) where \{T\} = (.*)$", code, re.M)
    assert m, "_sized is not defined as expected"
    assert "UInt32(sizeof(T))" in m.group(1) and "fieldtypes(T)[2:end]" in m.group(1)
    # struct_size is the first field of both structs, as the C header has it.
    for jname in ("NpkView", "NpkArrayInfo"):
        assert MODULE.structs[jname][1][0][0] == "struct_size"

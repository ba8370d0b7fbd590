"""Parsers for the Julia binding check: julia/src/NumPack.jl, julia/example.jl and include/numpack.h.

No Julia runtime is available in CI, so the binding is checked statically here (every ccall
against the header prototype, every struct against the C struct) and dynamically by
jlproxy.py, which calls libnumpack through ctypes with the argument types read from the Julia
ccalls by this module.

Type correspondence (both sides are reduced to one canonical spelling and compared):

    Julia                               canonical      C
    Int32 / Cint                        i32            int32_t, npk_status, npk_dtype
    UInt32 / Cuint                      u32            uint32_t
    Int64 / Clonglong                   i64            int64_t
    UInt64 / Culonglong                 u64            uint64_t
    Cvoid / Nothing                     void           void, and any opaque struct (npk_store, npk_batch)
    Cstring                             P(cchar)       const char *
    Ptr{UInt8} / Ptr{Cchar} / Ptr{Cuchar}  P(char)     char *  (also accepted for const char *)
    Ptr{X} / Ref{X}                     P(X)           X *     (so Ref{Ptr{Cvoid}} = npk_store **)
    Ptr{Cstring}                        P(P(cchar))    const char *const *
    NpkView / NpkArrayInfo              struct:npk_view / struct:npk_array_info
    NTuple{32,UInt64}                   A32(u64)       uint64_t name[NPK_MAX_DIMS]  (struct fields)

Platform-dependent Julia types (Int, UInt, Csize_t, Clong...) have no canonical form: a ccall
using them fails the check, since every header type has a fixed width.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JULIA_PACKAGE = REPO / "julia"
JULIA_MODULE = JULIA_PACKAGE / "src" / "NumPack.jl"
JULIA_PROJECT = JULIA_PACKAGE / "Project.toml"
JULIA_EXAMPLE = REPO / "julia" / "example.jl"
JULIA_README = REPO / "julia" / "README.md"
HEADER = REPO / "include" / "numpack.h"


# ------------------------------------------------------------------------------------------
# Julia source lexing
# ------------------------------------------------------------------------------------------
def _blank(chars, i, j):
    for k in range(i, j):
        if chars[k] != "\n":
            chars[k] = " "


def _match_close(src, i, open_="(", close=")"):
    """Index of the bracket closing the one at src[i] (ignores quotes: use on stripped code)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for j in range(i, len(src)):
        c = src[j]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                raise ValueError(f"unbalanced {c!r} at offset {j}")
            if not stack:
                return j
    raise ValueError(f"unclosed {src[i]!r} at offset {i}")


def strip_julia(src):
    """Julia source with comments and string/char literal contents blanked out (same length,
    newlines kept, so offsets and line numbers still match). Code inside string interpolation
    `$(...)` is kept."""
    chars = list(src)
    n = len(src)
    i = 0
    while i < n:
        c = src[i]
        if src.startswith("#=", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("#=", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("=#", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            _blank(chars, i, j)
            i = j
        elif c == "#":
            j = src.find("\n", i)
            j = n if j < 0 else j
            _blank(chars, i, j)
            i = j
        elif c == '"' or c == "`":
            q = c * 3 if src.startswith(c * 3, i) else c
            j = i + len(q)
            start = j
            while j < n and not src.startswith(q, j):
                if src[j] == "\\":
                    j += 2
                    continue
                if src.startswith("$(", j):
                    # keep interpolated code: blank up to it, skip past its closing paren
                    _blank(chars, start, j)
                    k = _match_close(src, j + 1)
                    j = start = k + 1
                    continue
                j += 1
            if j >= n:
                raise ValueError(f"unterminated string starting at offset {i}")
            _blank(chars, start, j)
            i = j + len(q)
        elif c == "'":
            prev = src[:i].rstrip()[-1:] if src[:i].strip() else ""
            if prev and (prev.isalnum() or prev in "_)]}'."):
                i += 1  # adjoint operator, not a char literal
                continue
            j = i + 1
            if j < n and src[j] == "\\":
                j += 2
            else:
                j += 1
            while j < n and src[j] != "'":
                j += 1
            _blank(chars, i + 1, j)
            i = j + 1
        else:
            i += 1
    return "".join(chars)


def split_top(s, sep=","):
    """Split s at top-level separators (outside (), [], {})."""
    parts, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def line_of(src, offset):
    return src.count("\n", 0, offset) + 1


# ------------------------------------------------------------------------------------------
# Julia type expressions
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JType:
    name: str
    params: tuple = ()

    def __str__(self):
        if not self.params:
            return self.name
        return f"{self.name}{{{','.join(str(p) for p in self.params)}}}"


def parse_jtype(text):
    text = " ".join(text.split())
    m = re.fullmatch(r"((?:Base\.|Core\.)?[A-Za-z_]\w*|\d+)\s*(\{(.*)\})?", text)
    if not m:
        raise ValueError(f"cannot parse Julia type {text!r}")
    name = m.group(1).split(".")[-1]
    params = ()
    if m.group(2):
        params = tuple(parse_jtype(p) for p in split_top(m.group(3)) if p)
    return JType(name, params)


JULIA_SCALARS = {
    "Int32": "i32", "Cint": "i32",
    "UInt32": "u32", "Cuint": "u32",
    "Int64": "i64", "Clonglong": "i64",
    "UInt64": "u64", "Culonglong": "u64",
    "Cvoid": "void", "Nothing": "void",
    "UInt8": "char", "Cchar": "char", "Cuchar": "char", "Int8": "char",
}


def julia_struct_to_c(name):
    """NpkArrayInfo -> npk_array_info (the naming rule the binding follows)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def canon_julia(t, consts=None):
    """Canonical spelling of a Julia type (None if it has no fixed-width C counterpart)."""
    if isinstance(t, str):
        t = parse_jtype(t)
    if t.name == "Cstring" and not t.params:
        return "P(cchar)"
    if t.name in ("Ptr", "Ref") and len(t.params) == 1:
        inner = canon_julia(t.params[0], consts)
        return None if inner is None else f"P({inner})"
    if t.name == "NTuple" and len(t.params) == 2:
        n = t.params[0].name
        if not n.isdigit():
            n = str((consts or {}).get(n, "?"))
        inner = canon_julia(t.params[1], consts)
        return None if inner is None or not n.isdigit() else f"A{n}({inner})"
    if t.params:
        return None
    if t.name in JULIA_SCALARS:
        return JULIA_SCALARS[t.name]
    if t.name.startswith("Npk"):
        return "struct:" + julia_struct_to_c(t.name)
    return None


def canon_matches(jl, c):
    """A Julia canonical type fits a C one: equal, or a mutable char* passed for a const one."""
    return jl is not None and (jl == c or jl == c.replace("cchar", "char"))


# ------------------------------------------------------------------------------------------
# Julia module: ccalls, structs, constants
# ------------------------------------------------------------------------------------------
@dataclass
class CCall:
    func: str
    library: str
    ret: JType
    argtypes: list
    args: list
    line: int
    text: str


@dataclass
class JuliaModule:
    path: Path
    src: str
    code: str  # comments and string contents blanked
    ccalls: list = field(default_factory=list)
    other_ccalls: list = field(default_factory=list)  # ccalls not of the _sym(:npk_x) form
    structs: dict = field(default_factory=dict)  # name -> (mutable, [(field, JType)])
    consts: dict = field(default_factory=dict)  # NAME -> int (integer constants only)
    const_exprs: dict = field(default_factory=dict)  # NAME -> source text
    functions: set = field(default_factory=set)  # names of functions defined (incl. Base.x)
    exports: set = field(default_factory=set)

    def const_block(self, name):
        """The text of `const name = (...)` through its closing bracket (on stripped code)."""
        m = re.search(rf"^const {re.escape(name)} = (\S)", self.code, re.M)
        if not m:
            raise KeyError(name)
        return self.code[m.start() : _match_close(self.code, m.start(1)) + 1]

    def signatures(self):
        """func -> (ret, [argtypes]) from the first ccall of each function."""
        out = {}
        for c in self.ccalls:
            out.setdefault(c.func, (c.ret, c.argtypes))
        return out


def parse_ccalls(src, code):
    calls, others = [], []
    for m in re.finditer(r"(?<![\w.@])ccall\s*\(", code):
        open_at = m.end() - 1
        close_at = _match_close(code, open_at)
        inner = code[open_at + 1 : close_at]
        parts = split_top(inner)
        line = line_of(code, m.start())
        text = " ".join(src[m.start() : close_at + 1].split())
        # The only form: ccall(_sym(:npk_x), ...), a function pointer looked up at run time.
        fm = re.fullmatch(r"(_sym)\(\s*:(npk_\w+)\s*\)", parts[0])
        if not fm or len(parts) < 3:
            others.append((line, text))
            continue
        tup = parts[2]
        if not (tup.startswith("(") and tup.endswith(")")):
            raise ValueError(f"line {line}: ccall argument types must be a literal tuple: {tup}")
        argtypes = [parse_jtype(a) for a in split_top(tup[1:-1]) if a]
        args = [a for a in parts[3:] if a]
        calls.append(
            CCall(fm.group(2), fm.group(1), parse_jtype(parts[1]), argtypes, args, line, text)
        )
    return calls, others


def parse_structs(code):
    structs = {}
    lines = code.split("\n")
    for i, ln in enumerate(lines):
        m = re.match(r"^(\s*)(mutable\s+)?struct\s+(\w+)", ln)
        if not m:
            continue
        indent = len(m.group(1))
        fields = []
        for body in lines[i + 1 :]:
            if re.match(rf"^\s{{{indent}}}end\b", body):
                break
            fm = re.match(rf"^\s{{{indent + 4}}}(\w+)::(\S.*?)\s*$", body)
            if fm:
                fields.append((fm.group(1), parse_jtype(fm.group(2))))
        structs[m.group(3)] = (bool(m.group(2)), fields)
    return structs


def _int_value(expr, consts):
    expr = expr.strip()
    m = re.fullmatch(r"(?:(?:U?Int\d+|Cu?int)\()?\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*\)?", expr)
    if m:
        return int(m.group(1), 0)
    if expr in consts:
        return consts[expr]
    return None


def parse_julia_module(path=JULIA_MODULE):
    src = Path(path).read_text()
    code = strip_julia(src)
    mod = JuliaModule(Path(path), src, code)
    mod.ccalls, mod.other_ccalls = parse_ccalls(src, code)
    mod.structs = parse_structs(code)
    for m in re.finditer(r"^\s*const\s+(\w+)\s*=\s*(.+?)\s*$", code, re.M):
        mod.const_exprs[m.group(1)] = m.group(2)
        v = _int_value(m.group(2), mod.consts)
        if v is not None:
            mod.consts[m.group(1)] = v
    for m in re.finditer(r"^\s*function\s+((?:Base\.)?\w+!?)\s*\(", code, re.M):
        mod.functions.add(m.group(1))
    for m in re.finditer(r"^\s*((?:Base\.)?\w+!?)\s*\(", code, re.M):
        # short-form definition: `f(args...) [where {...}] = body`
        close_at = _match_close(code, m.end() - 1)
        if re.match(r"\s*(?:where\s*(?:\{[^}]*\}|\w+)\s*)?=(?!=)", code[close_at + 1 :]):
            mod.functions.add(m.group(1))
    for m in re.finditer(r"^\s*(?:mutable\s+)?struct\s+(\w+)", code, re.M):
        mod.functions.add(m.group(1))  # constructors
    for m in re.finditer(r"^\s*export\s+(.+?)\s*$", code, re.M):
        # an export list may continue on indented lines ending the previous one with a comma
        start = m.start(1)
        text = code[start:]
        stmt = []
        for ln in text.split("\n"):
            stmt.append(ln)
            if not ln.rstrip().endswith(","):
                break
        for name in " ".join(stmt).split(","):
            if name.strip():
                mod.exports.add(name.strip())
    return mod


def called_names(code):
    """Names called as functions (`f(`, `f!(`, `M.f(`, `f(...) do`) in stripped Julia code."""
    names = set()
    for m in re.finditer(r"(?<![\w!])((?:\w+\.)*\w+!?)\s*\(", code):
        names.add(m.group(1))
    return names


# ------------------------------------------------------------------------------------------
# C header
# ------------------------------------------------------------------------------------------
@dataclass
class CParam:
    ctype: str
    name: str


@dataclass
class Header:
    text: str
    defines: dict  # NAME -> int
    typedefs: dict  # alias -> base
    opaque: set
    structs: dict  # name -> [(ctype, field, array_len or None)]
    functions: dict  # name -> (ret ctype, [CParam])


def _strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def parse_header(path=HEADER):
    raw = Path(path).read_text()
    text = _strip_c_comments(raw)
    defines = {}
    for m in re.finditer(r"^\s*#define\s+(\w+)\s+\(?\s*(-?\d+)\s*\)?\s*$", text, re.M):
        defines[m.group(1)] = int(m.group(2))
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
    text = text.replace('extern "C" {', "").replace("}  ", "")
    opaque = set(re.findall(r"typedef\s+struct\s+(\w+)\s+\1\s*;", text))
    typedefs = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"typedef\s+((?:unsigned\s+|signed\s+)?\w+)\s+(\w+)\s*;", text)
        if m.group(1) != "struct"
    )
    structs = {}
    for m in re.finditer(r"typedef\s+struct\s*(\w*)\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        fields = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            fm = re.fullmatch(r"(.+?[\s*])(\w+)\s*(?:\[\s*(\w+)\s*\])?", decl)
            if not fm:
                raise ValueError(f"cannot parse struct field {decl!r}")
            n = fm.group(3)
            if n is not None:
                n = int(n) if n.isdigit() else defines[n]
            fields.append((fm.group(1).strip(), fm.group(2), n))
        structs[m.group(3)] = fields
    text = re.sub(r"typedef\s+struct\s*\w*\s*\{.*?\}\s*\w+\s*;", "", text, flags=re.S)
    text = re.sub(r"typedef[^;]*;", "", text)
    functions = {}
    for m in re.finditer(r"([A-Za-z_][\w\s\*]*?)\b(npk_\w+)\s*\(([^)]*)\)\s*;", text, re.S):
        ret = " ".join(m.group(1).split())
        params = []
        plist = " ".join(m.group(3).split())
        if plist and plist != "void":
            for p in plist.split(","):
                pm = re.fullmatch(r"(.+?[\s*])(\w+)", p.strip())
                if not pm:
                    raise ValueError(f"cannot parse parameter {p!r} of {m.group(2)}")
                params.append(CParam(" ".join(pm.group(1).split()), pm.group(2)))
        functions[m.group(2)] = (ret, params)
    return Header(raw, defines, typedefs, opaque, structs, functions)


C_SCALARS = {"int32_t": "i32", "uint32_t": "u32", "int64_t": "i64", "uint64_t": "u64",
             "void": "void"}


def canon_c(ctype, header):
    """Canonical spelling of a C type such as `const char *const *` or `npk_store **`."""
    ctype = ctype.replace("*", " * ")
    toks = ctype.split()
    stars = toks.count("*")
    base_toks = [t for t in toks if t not in ("*", "const")]
    if len(base_toks) != 1:
        raise ValueError(f"cannot canonicalise C type {ctype!r}")
    base = base_toks[0]
    # is the innermost pointee const? (`const char *`, `char const *`)
    first_star = toks.index("*") if stars else len(toks)
    base_const = "const" in toks[:first_star]
    while base in header.typedefs:
        base = header.typedefs[base]
    if base == "char":
        out = "cchar" if base_const else "char"
    elif base in C_SCALARS:
        out = C_SCALARS[base]
    elif base in header.opaque:
        out = "void"
    elif base in header.structs:
        out = "struct:" + base
    else:
        raise ValueError(f"unknown C type {base!r}")
    for _ in range(stars):
        out = f"P({out})"
    return out


def canon_c_field(ctype, n, header):
    c = canon_c(ctype, header)
    return c if n is None else f"A{n}({c})"


# ------------------------------------------------------------------------------------------
# C layout (for struct size/offset reports and the ctypes proxy)
# ------------------------------------------------------------------------------------------
def size_align(canon):
    if canon in ("i32", "u32"):
        return 4, 4
    if canon in ("i64", "u64") or canon.startswith("P("):
        return 8, 8
    m = re.fullmatch(r"A(\d+)\((.*)\)", canon)
    if m:
        s, a = size_align(m.group(2))
        return int(m.group(1)) * s, a
    raise ValueError(f"no layout for {canon}")


def layout(canons):
    """[(offset)], size of a C struct with fields of these canonical types."""
    off, maxa, offs = 0, 1, []
    for c in canons:
        s, a = size_align(c)
        off = (off + a - 1) // a * a
        offs.append(off)
        off += s
        maxa = max(maxa, a)
    return offs, (off + maxa - 1) // maxa * maxa

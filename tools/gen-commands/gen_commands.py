#!/usr/bin/env python3
"""Generates rediskit's typed command functions from the checked-in spec.

    gen_commands.py [--spec FILE] OUTDIR

Reads COMMAND DOCS (arguments, tokens, flags, summaries) and COMMAND INFO
(flags such as readonly, write, blocking) from FILE (default
spec/redis-7.0.15.json, which `make meta-refresh` dumps from a live
server), adds the hand-written facts in spec.py, and writes into OUTDIR:

    include/rediskit/commands/<group>.h   declarations, one header per group
    include/rediskit/commands.h           includes them all
    src/commands/gen/<group>.c            the functions
    src/commands/gen/table.c              every command with its function
    tools/gen-commands/opts_layout.json   the member order of every options
                                          struct (read first: fields are
                                          only ever appended)

Everything is emitted in sorted order, so a rerun on the same spec writes
the same bytes, whatever server or formatter is installed. Pure Python 3
standard library. docs/DESIGN.md section 13 says how arguments map to
C parameters and options.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec  # noqa: E402

C_KEYWORDS = set(
    """auto break case char const continue default do double else enum extern
    float for goto if inline int long register restrict return short signed
    sizeof static struct switch typedef union unsigned void volatile while bool
    true false""".split()
)

GROUP_FILES = {
    "bitmap": "bitmap",
    "cluster": "cluster",
    "connection": "connection",
    "generic": "generic",
    "geo": "geo",
    "hash": "hash",
    "hyperloglog": "hyperloglog",
    "list": "list",
    "pubsub": "pubsub",
    "scripting": "scripting",
    "server": "server",
    "set": "set",
    "sorted-set": "sorted_set",
    "stream": "stream",
    "string": "string",
    "transactions": "transactions",
}


class Unsupported(Exception):
    pass


def cident(name):
    s = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not s:
        s = "arg"
    if s[0].isdigit():
        s = "_" + s
    return s + "_" if s in C_KEYWORDS else s


def cname(name):
    """The C name of a command (docs/DESIGN.md and commands/common.h say the
    rule): its words in lower case, a container and its subcommand glued
    ("config|get" -> configget), '-' and '.' as '_'; spec.RENAME for the
    few that would equal a public type or function."""
    return cident(spec.RENAME.get(name, name.replace("|", "")))


def plural(name):
    if name.endswith("s") or name.endswith("x"):
        return name + "es"
    if name.endswith("y") and not name.endswith("ey"):
        return name[:-1] + "ies"
    return name + "s"


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fill(first, pieces, cont, width, reserve=0):
    """pieces, joined by spaces, on lines of at most width (keeping reserve
    columns free), filled greedily: the first line starts with first, each
    later one with cont(piece). A piece too long for any line gets one to
    itself. No pieces, no lines."""
    out, cur, used = [], first, False
    for p in pieces:
        if used and len(cur) + 1 + len(p) + reserve > width:
            out.append(cur)
            cur = cont(p) + p
        else:
            cur += " " + p if cur else p
        used = True
    return out + [cur] if used else out


def wrap_comment(text, width=76, indent=" *  "):
    lines = fill("", text.split(), lambda w: "", width)
    return [indent + l if l else indent.rstrip() for l in lines]


# ------------------------------------------------------------------ reading


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = os.path.join(ROOT, "spec", "redis-7.0.15.json")


def read_spec(path):
    """(docs, info, version) from a spec file written by
    tools/gen-meta/refresh_spec.py: COMMAND DOCS as the server's map,
    COMMAND INFO as its array of entries (the file keys them by name), and
    the server's version ("7.0.15" from "redis-7.0.15")."""
    with open(path, encoding="utf-8") as f:
        s = json.load(f)
    return s["docs"], list(s["info"].values()), s["server"].split("-", 1)[1]


def leaves(docs, info):
    """[(name, doc, flags)] for every command that is called as such:
    commands without subcommands, and subcommands."""
    flags, arity = {}, {}

    def walk(entries):
        for e in entries:
            flags[e[0]] = e[2]
            arity[e[0]] = e[1]
            if len(e) > 9:
                walk(e[9])

    walk(info)
    out = []
    for name, doc in docs.items():
        subs = doc.get("subcommands")
        if subs:
            for sname, sdoc in subs.items():
                out.append((sname, sdoc, flags.get(sname, [])))
            if arity.get(name) == -1:  # callable on its own too (COMMAND)
                bare = {k: v for k, v in doc.items() if k != "subcommands"}
                out.append((name, bare, flags.get(name, [])))
        else:
            out.append((name, doc, flags.get(name, [])))
    return sorted(out, key=lambda t: t[0])


# The member order of every options struct as released: read before
# generating, written back after (make commands), so that fields a newer
# spec adds are appended, never inserted.
OPTS_LAYOUT = os.path.join("tools", "gen-commands", "opts_layout.json")


def read_layout():
    path = os.path.join(ROOT, OPTS_LAYOUT)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_layout(outdir, layout):
    path = os.path.join(outdir, OPTS_LAYOUT)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = json.dumps(layout, indent=1, sort_keys=True) + "\n"
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if old != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def meta_rows():
    """{name: row} of the metadata table tools/gen-meta writes from spec/
    (its rows are sorted by name), so that a builder can point at its row
    without a lookup. Read from the same spec/, by gen_meta's own loader."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(ROOT, "tools", "gen-meta"))
    import gen_meta  # noqa: E402
    rows = gen_meta.load_all(os.path.join(ROOT, "spec"))
    return {n: i for i, n in enumerate(sorted(rows))}


# ------------------------------------------------------------ syntax line


def syntax(name, args):
    def one(a):
        t = a["type"]
        tok = a.get("token")
        if t == "pure-token":
            s = tok
        elif t == "oneof":
            s = " | ".join(one(x) for x in a["arguments"])
            s = (tok + " " if tok else "") + "<" + s + ">"
        elif t == "block":
            s = " ".join(one(x) for x in a["arguments"])
            s = (tok + " " if tok else "") + s
        else:
            s = (tok + " " if tok else "") + a["name"]
        f = a.get("flags", [])
        if "multiple" in f:
            s = s + " [" + s + " ...]" if "multiple_token" not in f else s + " [" + s + " ...]"
        if "optional" in f:
            s = "[" + s + "]"
        return s

    return " ".join([name.replace("|", " ").upper()] + [one(a) for a in args])


# ------------------------------------------------------------- the model
#
# Each documented argument becomes a Field. A field knows how it is
# declared (as a function parameter or as a struct member), how to test
# whether the caller set it, and the C that appends it to the command.


class Ctx:
    """Where fields are declared: the function's parameters, the options
    struct, or a block struct. Names are unique within one Ctx."""

    def __init__(self, gen, cmd, kind, ctype=None):
        self.gen, self.cmd, self.kind, self.ctype = gen, cmd, kind, ctype
        self.names = set()
        self.fields = []  # declared fields in order
        self.checks = []  # (condition, message) over this ctx's fields

    def name(self, want):
        n = want
        i = 2
        reserved = ("cmd", "o", "b", "c", "p", "conn", "reply", "out", "len", "opts", "i", "rc",
                    "words")
        while n in self.names or (self.kind == "param" and n in reserved):
            n = "%s%d" % (want, i)
            i += 1
        self.names.add(n)
        return n

    def src(self, f):
        return {"param": "", "opts": "o->", "block": "b->"}[self.kind] + f


def scalar_type(gen, cmd, a, parent):
    t = spec.TYPE.get((cmd, a["name"]), a["type"])
    if t in ("key", "string", "pattern"):
        return "str"
    if t in ("integer", "unix-time"):
        return "int"
    if t == "cursor":
        return "uns"
    if t == "double":
        return "dbl"
    raise Unsupported("type " + t)


class Field:
    """A scalar value: string, integer or double, maybe behind a token,
    maybe a list. A string is an rk_str everywhere but in the
    convenience's parameters, where it is a C string (a list of them, an
    array of C strings); keys are marked as keys as they are appended."""

    def __init__(self, ctx, a, optional, base=None):
        self.ctx, self.a, self.optional = ctx, a, optional
        self.t = scalar_type(ctx.gen, ctx.cmd, a, None)
        self.key = spec.TYPE.get((ctx.cmd, a["name"]), a["type"]) == "key"
        self.token = a.get("token")
        f = a.get("flags", [])
        self.multiple = "multiple" in f
        self.mtoken = "multiple_token" in f
        want = base or cident(self.token if self.token else a["name"])
        if self.multiple and not self.token:
            want = plural(want)
        self.name = ctx.name(want)
        self.count = ctx.name("n" + self.name) if self.multiple else None
        self.isset = ctx.name(self.name + "_set") if (optional and not self.multiple and self.t in ("int", "dbl", "uns") and ctx.kind != "param") else None

    def label(self):
        return self.token or self.a["name"]

    ctypes = {"int": "long long ", "dbl": "double ", "uns": "unsigned long long "}
    lists = {"int": "const long long *", "dbl": "const double *", "uns": "const unsigned long long *"}

    def decls(self, form):
        """Declarations (no ';') with their comments. form: "builder"
        (rk_str strings), "conv" (C strings) or "build" (the shared build
        function's: rk_str, and for a list of strings both arrays); members
        of structs are always as the builder's."""
        if self.ctx.kind != "param":
            form = "builder"
        if self.multiple:
            if self.t != "str":
                el = [self.lists[self.t] + self.name]
            elif form == "conv":
                el = ["const char *const *" + self.name]
            elif form == "build":
                el = ["const rk_str *" + self.name, "const char *const *" + self.name + "_c"]
            else:
                el = ["const rk_str *" + self.name]
            out = [(e, "The %s list." % self.a["name"]) for e in el]
            out.append(("size_t " + self.count, "How many."))
            return out
        if self.t == "str":
            ctype = "const char *" if form == "conv" else "rk_str "
        else:
            ctype = self.ctypes[self.t]
        out = [(ctype + self.name, self.doc())]
        if self.isset:
            out.append(("bool " + self.isset, "Send %s even when it is 0." % self.label()))
        return out

    def call_args(self, form):
        """What a builder ("builder") or a convenience ("conv") passes to
        the shared build function for this parameter."""
        if self.multiple:
            if self.t != "str":
                return [self.name, self.count]
            if form == "conv":
                return ["NULL", self.name, self.count]
            return [self.name, "NULL", self.count]
        if self.t == "str" and form == "conv":
            return ["rk_cstr(%s)" % self.name]
        return [self.name]

    def doc(self):
        tok = self.token + " " if self.token else ""
        what = "%s%s" % (tok, self.a["name"])
        if self.optional:
            unset = {"str": "NULL", "int": "0", "dbl": "0", "uns": "0"}[self.t]
            return "%s; %s: not sent." % (what, unset)
        return what

    def present(self):
        s = self.ctx.src
        if self.multiple:
            return "%s > 0" % s(self.count)
        if self.t == "str":
            return "%s.ptr != NULL" % s(self.name)
        if self.isset:
            return "%s != 0 || %s" % (s(self.name), s(self.isset))
        return "%s != 0" % s(self.name)

    def value(self, v):
        if self.t == "str":
            return "%s(cmd, %s);" % ("rk_arg_key" if self.key else "rk_arg_str", v)
        if self.t == "int":
            return "rk_arg_int(cmd, %s);" % v
        if self.t == "uns":
            return "rk_arg_uint(cmd, %s);" % v
        return "rk_arg_double(cmd, %s);" % v

    def emit(self):
        s = self.ctx.src
        lines = []
        if self.multiple:
            each = cstr(self.token) if self.mtoken else "NULL"
            what = cstr(self.a["name"])
            key = "true" if self.key else "false"
            if self.t == "str" and self.ctx.kind == "param":
                call = "rk_arg_list(cmd, %s, %s, %s, %s_c, %s, %s);" % (what, each, s(self.name), s(self.name), s(self.count), key)
            elif self.t == "str":
                call = "rk_arg_strs(cmd, %s, %s, %s, %s, %s);" % (what, each, s(self.name), s(self.count), key)
            else:
                fn = {"int": "rk_arg_ints", "dbl": "rk_arg_doubles"}[self.t]
                call = "%s(cmd, %s, %s, %s, %s);" % (fn, what, each, s(self.name), s(self.count))
            once = ["rk_arg_lit(cmd, %s);" % cstr(self.token)] if self.token and not self.mtoken else []
            if not self.optional:
                lines = ["if (%s == 0)" % s(self.count),
                         "    rk_arg_invalid(cmd, %s);" % cstr("needs at least one " + self.a["name"])]
                return lines + once + [call]
            if once:
                return ["if (%s) {" % self.present()] + ["    " + l for l in once + [call]] + ["}"]
            return [call]
        if self.token:
            lines.append("rk_arg_lit(cmd, %s);" % cstr(self.token))
        lines.append(self.value(s(self.name)))
        if self.optional:
            return ["if (%s) {" % self.present()] + ["    " + l for l in lines] + ["}"]
        if self.t == "str" and self.ctx.kind != "param":
            return ["if (%s.ptr == NULL)" % s(self.name),
                    "    rk_arg_invalid(cmd, %s);" % cstr(self.a["name"] + " is required")] + lines
        return lines


class Flag:
    """An optional pure token: a bool."""

    def __init__(self, ctx, a, name=None):
        self.ctx, self.a, self.token = ctx, a, a["token"]
        self.name = ctx.name(name or cident(a["name"] if a["token"] in ("=", "~", "*", "") else a["token"]))

    def label(self):
        return self.token

    def decls(self, form):
        return [("bool " + self.name, "Send %s." % self.token)]

    def present(self):
        return self.ctx.src(self.name)

    def emit(self):
        return ["if (%s)" % self.present(), "    rk_arg_lit(cmd, %s);" % cstr(self.token)]


class Lit:
    """A required pure token: always sent."""

    def __init__(self, ctx, tokens):
        self.tokens = tokens

    def decls(self, form):
        return []

    def emit(self):
        return ["rk_arg_lit(cmd, %s);" % cstr(t) for t in self.tokens]


class Enum:
    """A choice between pure tokens: a C enum. A required one is always
    sent; an optional one (a field, 0: not sent) is sent after its own
    token, if it has one (AGGREGATE SUM|MIN|MAX)."""

    def __init__(self, ctx, a, optional=False):
        self.ctx, self.a, self.optional = ctx, a, optional
        self.token = a.get("token") if optional else None
        toks = tuple(x["token"] for x in a["arguments"])
        self.tokens = toks
        cmdid = cname(ctx.cmd)
        base = cident(self.token) if self.token else cident(a["name"])
        self.name = ctx.name(base)
        if toks in spec.ENUM:
            self.type, consts = spec.ENUM[toks]
            self.consts = [consts[t] for t in toks]
            self.shared = True
        else:
            self.type = "rk_%s_%s" % (cmdid, base)
            self.consts = ["RK_%s_%s_%s" % (cmdid.upper(), base.upper(), cident(t).upper()) for t in toks]
            self.shared = False
        ctx.gen.enums[self.type] = (self, toks)

    def decls(self, form):
        doc = " | ".join(self.tokens)
        if self.optional:
            doc = "%s%s; 0: not sent." % (self.token + " " if self.token else "", doc)
        return [(self.type + " " + self.name, doc)]

    def present(self):
        return "%s != 0" % self.ctx.src(self.name)

    def label(self):
        return self.token or self.a["name"]

    def emit(self):
        s = self.ctx.src(self.name)
        line = "rk_arg_choice(cmd, (int)%s, %s_tokens, %d, %s);" % (s, self.type, len(self.tokens), cstr(self.a["name"]))
        if not self.optional:
            return [line]
        tok = ["    rk_arg_lit(cmd, %s);" % cstr(self.token)] if self.token else []
        return ["if (%s) {" % self.present()] + tok + ["    " + line, "}"]


class BlockRef:
    """A block of arguments: a struct, passed by pointer when optional or
    as an array when it repeats."""

    def __init__(self, ctx, a, optional, multiple, choice=False):
        self.ctx, self.a, self.optional, self.multiple = ctx, a, optional, multiple
        self.token = a.get("token")
        kids = a["arguments"]
        first = kids[0] if kids else {}
        scalar_first = first.get("token") and first["type"] not in ("pure-token", "oneof", "block")
        base = self.token or (first["token"] if scalar_first else None) or a["name"]
        if base in ("options", "arguments", "args") and kids:
            base = kids[0]["name"]
        if choice:
            base = spec.NAMES.get((ctx.cmd, a["name"]), a["name"])
        want = cident(base)
        self.type = "rk_%s_%s" % (cname(ctx.cmd), want)
        gen = ctx.gen
        while self.type in gen.structs and gen.structs[self.type] is not None:
            self.type += "_"
        gen.structs[self.type] = None
        self.name = ctx.name(plural(want) if multiple else want)
        self.count = ctx.name("n" + self.name) if multiple else None
        self.inner = Ctx(gen, ctx.cmd, "block", self.type)
        if not choice:
            self.body = lower_list(self.inner, kids, in_block=True)
        else:
            # A repeated choice: each element sets exactly one alternative.
            self.body, present, labels = [], [], []
            for x in kids:
                alt = dict(x)
                alt["flags"] = sorted(set(x.get("flags", [])) | {"optional"})
                items = lower_list(self.inner, [alt], in_block=True)
                self.body.extend(items)
                ps = [it.present() for it in items if it.decls("builder")]
                present.append("(%s)" % " || ".join(ps))
                labels.append(alt_label(x))
            self.inner.checks.append(("%s != 1" % " + ".join(present),
                                      "each %s needs exactly one of %s" % (a["name"], ", ".join(labels))))
        gen.structs[self.type] = self

    def label(self):
        return self.token or self.a["name"]

    def decls(self, form):
        if self.multiple:
            return [("const %s *%s" % (self.type, self.name), "The %s list." % self.a["name"]),
                    ("size_t " + self.count, "How many.")]
        return [("const %s *%s" % (self.type, self.name), "%s; NULL: not sent." % self.label())]

    def present(self):
        s = self.ctx.src
        return ("%s > 0" % s(self.count)) if self.multiple else ("%s != NULL" % s(self.name))

    def emit(self):
        s = self.ctx.src
        fn = "emit_" + self.type[3:]
        tok = ["rk_arg_lit(cmd, %s);" % cstr(self.token)] if self.token else []
        if self.multiple:
            each_token = "multiple_token" in self.a.get("flags", [])
            each = (tok if each_token else []) + ["%s(cmd, &%s[i]);" % (fn, s(self.name))]
            body = ([] if each_token else tok) + ["for (size_t i = 0; i < %s; i++) {" % s(self.count)]
            body += ["    " + l for l in each] + ["}"]
            lines = ["if (%s > 0 && %s == NULL) {" % (s(self.count), s(self.name)),
                     "    rk_arg_invalid(cmd, %s);" % cstr(self.a["name"] + " list is NULL"),
                     "} else if (%s > 0) {" % s(self.count)] + ["    " + l for l in body] + ["}"]
            if not self.optional:
                return ["if (%s == 0)" % s(self.count),
                        "    rk_arg_invalid(cmd, %s);" % cstr("needs at least one " + self.a["name"])] + lines
            return lines
        lines = ["if (%s) {" % self.present()] + ["    " + l for l in tok + ["%s(cmd, %s);" % (fn, s(self.name))]] + ["}"]
        if not self.optional:
            return ["if (%s == NULL)" % s(self.name),
                    "    rk_arg_invalid(cmd, %s);" % cstr(self.label() + " is required")] + lines
        return lines


class TokenOr:
    """A required choice between a pure token and one string, as XADD's
    <* | id>: the string, with NULL meaning the token."""

    def __init__(self, ctx, a, tok, val):
        self.ctx, self.tok = ctx, tok
        self.f = Field(ctx, val, False)

    def decls(self, form):
        d = self.f.decls(form)
        name, _ = d[0]
        d[0] = (name, "%s; NULL: %s." % (self.f.a["name"], self.tok["token"] or '""'))
        return d

    def emit(self):
        s = self.ctx.src
        return ["if (%s.ptr)" % s(self.f.name),
                "    " + self.f.value(s(self.f.name)),
                "else",
                "    rk_arg_lit(cmd, %s);" % cstr(self.tok["token"])]


def alt_label(x):
    if x.get("token"):
        return x["token"]
    if x["type"] == "block" and x["arguments"] and x["arguments"][0].get("token"):
        return x["arguments"][0]["token"]
    return x["name"]


def lower_choice(ctx, a, optional, in_block, params, opts):
    """A oneof. Returns the items that emit it, in order."""
    alts = [x for x in a["arguments"] if "deprecated_since" not in x] or a["arguments"]
    tok = a.get("token")
    allpure = all(x["type"] == "pure-token" for x in alts)
    if "multiple" in a.get("flags", []):
        if tok:
            raise Unsupported("repeated choice with a token")
        target = ctx if (in_block or not optional) else params
        return [BlockRef(target, a, optional, True, choice=True)], target
    if len(alts) == 1 and not optional:
        # Only one form left (the others are deprecated): it is required.
        return lower_list(ctx if in_block else params, alts, in_block, opts), ctx
    if allpure and not optional:
        target = ctx if in_block else params
        items = ([Lit(target, [tok])] if tok else []) + [Enum(target, a)]
        return items, target
    if allpure and (tok or tuple(x["token"] for x in alts) in spec.ENUM):
        # An optional choice with a name of its own (AGGREGATE) or a shared
        # enum (units): an enum field, 0 for none.
        target = ctx if in_block else opts
        return [Enum(target, a, optional=True)], target
    if (not optional and len(alts) == 2 and alts[0]["type"] == "pure-token"
            and alts[1]["type"] in ("string", "key") and not alts[1].get("token")):
        target = ctx if in_block else params
        return [TokenOr(target, a, alts[0], alts[1])], target
    if (not optional and len(alts) == 2 and alts[1]["type"] == "pure-token"
            and alts[0]["type"] in ("string", "key") and not alts[0].get("token")):
        target = ctx if in_block else params
        return [TokenOr(target, a, alts[1], alts[0])], target
    # Each alternative becomes its own optional field; at most (or, when
    # required, exactly) one may be set.
    target = ctx if in_block else opts
    fields = []
    for x in alts:
        if x["type"] == "pure-token":
            fields.append(Flag(target, x))
        elif x["type"] == "block":
            if all(y["type"] == "pure-token" for y in x["arguments"]):
                fl = Flag(target, {"name": x["name"], "token": " ".join(y["token"] for y in x["arguments"])}, cident(x["name"]))
                fl.tokens = [y["token"] for y in x["arguments"]]
                fl.emit = (lambda fl=fl: ["if (%s) {" % fl.present()] + ["    rk_arg_lit(cmd, %s);" % cstr(t) for t in fl.tokens] + ["}"])
                fields.append(fl)
            else:
                fields.append(BlockRef(target, x, True, "multiple" in x.get("flags", [])))
        elif x["type"] == "oneof":
            raise Unsupported("nested choice")
        else:
            fields.append(Field(target, x, True))
    labels = [alt_label(x) for x in alts]
    cond = " + ".join("(%s)" % f.present() for f in fields)
    if (ctx.cmd, a["name"]) in spec.LOOSE:
        pass
    elif optional:
        target.checks.append(("%s > 1" % cond, "at most one of %s" % ", ".join(labels)))
    else:
        target.checks.append(("%s != 1" % cond, "needs exactly one of %s" % ", ".join(labels)))
    items = []
    if tok:
        anyset = " || ".join("(%s)" % f.present() for f in fields)
        items.append(Cond(target, anyset, [Lit(target, [tok])]))
    items.extend(fields)
    return items, target


class Cond:
    def __init__(self, ctx, cond, items):
        self.cond, self.items = cond, items

    def decls(self, form):
        return []

    def emit(self):
        inner = [l for it in self.items for l in it.emit()]
        return ["if (%s) {" % self.cond] + ["    " + l for l in inner] + ["}"]


def lower_list(ctx, args, in_block=False, opts=None):
    """Items for a list of arguments. At the top level (in_block False),
    ctx is the params Ctx and opts the options Ctx."""
    items = []
    i = 0
    while i < len(args):
        a = args[i]
        toks = spec.CHOICE.get((ctx.cmd, a["name"]))
        if toks:
            a = {"name": a["name"], "type": "oneof", "flags": a.get("flags", []),
                 "arguments": [{"name": t.lower(), "type": "pure-token", "token": t} for t in toks]}
        f = a.get("flags", [])
        optional = "optional" in f
        multiple = "multiple" in f
        t = a["type"]
        # Positional lists are parameters even when they may be empty.
        positional_list = multiple and not a.get("token") and t not in ("block", "oneof")
        target = ctx if (in_block or not optional or positional_list) else opts
        # numkeys followed by the keys: the count is the list's length.
        if (t == "integer" and a["name"] == "numkeys" and i + 1 < len(args)
                and "multiple" in args[i + 1].get("flags", [])):
            nxt = args[i + 1]
            nopt = "optional" in nxt.get("flags", [])
            ktarget = ctx
            keys = Field(ktarget, nxt, nopt)
            items.append(NumKeys(keys))
            items.append(keys)
            i += 2
            continue
        if t == "pure-token":
            items.append(Flag(target, a) if optional else Lit(target, [a["token"]]))
        elif t == "oneof":
            its, _ = lower_choice(ctx, a, optional, in_block, ctx, opts)
            items.extend(its)
        elif t == "block" and len(a["arguments"]) == 1 and \
                a["arguments"][0]["type"] not in ("block", "oneof", "pure-token") and \
                not (a.get("token") and a["arguments"][0].get("token")) and \
                not (multiple and "multiple" in a["arguments"][0].get("flags", [])):
            # A block of one argument is that argument (CLIENT LIST's
            # [ID id...] is a tokened list, CONFIG GET's parameters a list).
            kid = a["arguments"][0]
            one = dict(kid)
            one["flags"] = sorted(set(f) | (set(kid.get("flags", [])) & {"multiple"}))
            if a.get("token"):
                one["token"] = a["token"]
            if optional and "multiple" in one["flags"] and one.get("token"):
                target = opts if not in_block else ctx
            items.append(Field(target, one, optional))
        elif t == "block":
            kids = a["arguments"]
            if all(k["type"] == "pure-token" for k in kids) and not multiple:
                toks = ([a["token"]] if a.get("token") else []) + [k["token"] for k in kids]
                if optional:
                    fl = Flag(target, {"name": a["name"], "token": " ".join(toks)}, cident(a["name"]))
                    fl.tokens = toks
                    fl.emit = (lambda fl=fl: ["if (%s) {" % fl.present()] + ["    rk_arg_lit(cmd, %s);" % cstr(x) for x in fl.tokens] + ["}"])
                    items.append(fl)
                else:
                    items.append(Lit(target, toks))
            elif not optional and not multiple and not in_block:
                # A required block is just its arguments, in line.
                if a.get("token"):
                    items.append(Lit(ctx, [a["token"]]))
                sub = lower_list(ctx, kids, False, opts)
                lists = [x for x in sub if isinstance(x, Field) and x.multiple and not x.optional]
                if len(lists) == 2:
                    items.append(SameCount(ctx, lists[0], lists[1]))
                items.extend(sub)
            else:
                items.append(BlockRef(target, a, optional, multiple))
        else:
            items.append(Field(target, a, optional))
        i += 1
    return items


class NumKeys:
    def __init__(self, keys):
        self.keys = keys

    def decls(self, form):
        return []

    def emit(self):
        return ["rk_arg_uint(cmd, %s);" % self.keys.ctx.src(self.keys.count)]


class SameCount:
    def __init__(self, ctx, a, b):
        self.ctx, self.a, self.b = ctx, a, b

    def decls(self, form):
        return []

    def emit(self):
        s = self.ctx.src
        return ["if (%s != %s)" % (s(self.a.count), s(self.b.count)),
                "    rk_arg_invalid(cmd, %s);" % cstr("needs as many %s as %s" % (plural(self.b.a["name"]), plural(self.a.a["name"])))]


# --------------------------------------------------------------- commands


class Command:
    def __init__(self, gen, name, doc, flags):
        self.gen, self.name, self.doc, self.flags = gen, name, doc, flags
        self.cid = cname(name)
        self.fn = "rk_" + self.cid
        self.builder = "rk_cmd_" + self.cid
        self.group = GROUP_FILES.get(doc.get("group"), "server")
        self.words = name.upper().split("|")
        self.params = Ctx(gen, name, "param")
        self.opts = Ctx(gen, name, "opts", "rk_%s_opts" % self.cid)
        self.raw = False
        try:
            args = spec.ARGS.get(name, doc.get("arguments", []))
            self.items = lower_list(self.params, args, False, self.opts)
        except Unsupported as e:
            self.raw = True
            self.why = str(e)
            self.params = Ctx(gen, name, "param")
            self.opts = Ctx(gen, name, "opts", None)
            self.items = [Field(self.params, {"name": "arg", "type": "string", "flags": ["multiple"]}, True)]
        self.output = spec.OUTPUT.get(name, "reply")
        self.shape = spec.SHAPE.get(name)
        if self.shape is None and self.output == "double":
            self.shape = '"d"'
        self.conn = name in spec.CONNECTION
        self.blocking = "blocking" in flags

    def has_opts(self):
        return bool(self.opts_fields())

    def opts_fields(self):
        return [it for it in self.all_items() if getattr(it, "ctx", None) is self.opts and it.decls("builder")]

    def all_items(self):
        for it in self.items:
            yield it
            if isinstance(it, Cond):
                yield from it.items

    def param_fields(self):
        return [it for it in self.items if getattr(it, "ctx", None) is self.params and it.decls("builder")]

    def has_str_list(self):
        """Whether a list of strings is among the parameters: the builder
        takes it as rk_str, the convenience as C strings, so both go
        through a shared maker."""
        return any(isinstance(f, Field) and f.multiple and f.t == "str" for f in self.param_fields())

    def param_decls(self, form):
        out = []
        for f in self.param_fields():
            for d, _ in f.decls(form):
                out.append(d)
        return out

    def param_names(self):
        """The parameter names of the builder and of the convenience."""
        return [d.split()[-1].lstrip("*") for d in self.param_decls("builder")]

    def build_args(self, form):
        """The arguments the builder ("builder") or the convenience
        ("conv") passes on for the command's parameters."""
        out = []
        for f in self.param_fields():
            if isinstance(f, TokenOr):
                f = f.f
            if isinstance(f, Field):
                out.extend(f.call_args(form))
            elif isinstance(f, BlockRef):
                out.append(f.name)
                if f.multiple:
                    out.append(f.count)
            else:
                out.append(f.name)
        return out

    def summary_comment(self):
        d = self.doc
        head = self.name.replace("|", " ").upper() + ": " + d.get("summary", "").rstrip(".") + "."
        paras = [
            "Syntax: " + syntax(self.name, d.get("arguments", [])),
            ("Complexity: %s. " % d["complexity"].rstrip(".") if d.get("complexity") else "")
            + "Since Redis %s (%s group)." % (d.get("since", "?"), d.get("group", "?")),
        ]
        for f in self.param_fields():
            if isinstance(f, TokenOr):
                paras.append("Pass %s NULL to send %s instead." % (
                    f.f.name, f.tok["token"] and f.tok["token"] or 'an empty string ("")'))
        if self.name in spec.NOTES:
            paras.append(spec.NOTES[self.name])
        if self.name in spec.BLOCK and self.output != "int":
            paras.append("When the timeout passes with nothing to return, the server answers "
                         "nil and the function returns RK_NIL.")
        if "deprecated_since" in d:
            paras.append("Deprecated since %s; use %s instead." % (
                d["deprecated_since"], d.get("replaced_by", "").replace("`", "")))
        out = {
            "ok": "Returns RK_OK when the server answered OK, RK_NIL when it answered nil.",
            "int": "Stores the integer reply in *out (NULL to ignore it).",
            "nint": "Stores the integer reply in *out; returns RK_NIL when the server replied nil.",
            "double": "Stores the reply as a double in *out; returns RK_NIL when the server "
                      "replied nil.",
            "str": "Stores the reply in *out (NUL-terminated; free it with rk_free) and its "
                   "length in *len (may be NULL); returns RK_NIL when the server replied nil.",
            "reply": "Hands the reply to *reply (NULL discards it); returns RK_NIL when the "
                     "reply is nil.",
        }[self.output]
        paras.append("%s() builds the command (strings as rk_str) for rk_client_run(), "
                     "rk_conn_run() or rk_pipeline_add()%s." % (
                         self.builder, ", which give its reply " + self.shape_doc() +
                         " on either protocol" if self.shape else ""))
        paras.append("%s() runs it on %s, with C strings. %s Errors as %s." % (
            self.fn, "a held connection" if self.conn else "the client", out,
            "rk_conn_run()" if self.conn else "rk_client_run()"))
        lines = wrap_comment(head, width=92, indent="")
        out_lines = ["/** " + lines[0]] + [" *  " + l for l in lines[1:]]
        for p in paras:
            out_lines.append(" *")
            out_lines.extend(wrap_comment(p, width=92))
        return out_lines + [" */"]

    def shape_doc(self):
        found = re.findall(r'"([^"]*)"', self.shape)
        if not found:
            return "shaped by its options"
        texts = [describe_shape(x)[0] for x in found if x != "."]
        if len(found) > 1:
            return " or ".join(texts) + " depending on the options"
        return texts[0]


def describe_shape(s):
    """English for a shape string (see src/resp/shape.c); returns the
    text and the rest of the string."""
    c, rest = s[0], s[1:]
    if c == ".":
        return "as sent", rest
    if c == "d":
        return "a double", rest
    if c == "s":
        return "a set", rest
    if c == "S":
        _, rest = describe_shape(rest)
        return "a set", rest
    if c == "$":
        return {"A": "a list of argument maps", "D": "a map", "I": "an array"}.get(rest[:1], "a reply"), rest[1:]
    if c == "i":
        return "a map of INFO sections, each a map of fields", rest
    if c == "a":
        el, rest = describe_shape(rest)
        return ("an array" if el == "as sent" else "an array, each element " + el), rest
    if c in "mk":
        _, rest = describe_shape(rest)
        _, rest = describe_shape(rest)
        return "a map", rest
    if c == "p":
        x, rest = describe_shape(rest)
        y, rest = describe_shape(rest)
        return "an array of pairs [member, %s]" % ("score" if y == "a double" else "value"), rest
    if c == "{":
        depth = 1
        while rest and depth:
            depth += {"{": 1, "}": -1}.get(rest[0], 0)
            rest = rest[1:]
        return "a map", rest
    if c == "(":
        parts = []
        while rest and rest[0] != ")":
            if rest[0] == "*":
                t, rest = describe_shape(rest[1:])
                parts.append("then each " + t)
                continue
            t, rest = describe_shape(rest)
            parts.append(t)
        return "an array [%s]" % ", ".join(parts), rest[1:]
    return s, ""


# --------------------------------------------------------------- emitting

HEADER_TOP = """/** @file rediskit/commands/%(group)s.h
 * rediskit: typed commands of the %(title)s group. Generated by
 * tools/gen-commands from Redis %(version)s; do not edit (make commands).
 *
 * See rediskit/commands.h for the conventions every function follows. */
#ifndef RK_COMMANDS_%(GROUP)s_H
#define RK_COMMANDS_%(GROUP)s_H

#include "rediskit/commands/common.h"

#ifdef __cplusplus
extern "C" {
#endif
"""

HEADER_END = """
#ifdef __cplusplus
}
#endif

#endif
"""


class Gen:
    def __init__(self, docs, info, version):
        self.enums = {}
        self.structs = {}
        self.version = version
        self.commands = []
        for name, doc, flags in leaves(docs, info):
            if name in spec.HAND:
                continue
            self.commands.append(Command(self, name, doc, flags))
        self.all_names = [n for n, _, _ in leaves(docs, info)]
        self.flags = {n: f for n, _, f in leaves(docs, info)}
        self.meta_rows = meta_rows()
        self.layout_in = read_layout()
        self.layout_out = {}

    # -- headers

    def struct_decl(self, ctype, fields, comment):
        out = ["", "/** %s */" % comment, "typedef struct %s {" % ctype]
        for f in fields:
            for d, doc in f.decls("builder"):
                out.append("    %s; %s" % (d, ("/**< %s */" % doc) if doc else ""))
        out.append("} %s;" % ctype)
        return [l.rstrip() for l in out]

    def stable_order(self, ctype, fields):
        """An options struct's fields in the order its recorded layout
        (OPTS_LAYOUT) gives them, fields new to it after, in spec order: a
        struct only ever grows at its end, so a program built against an
        older header keeps working (its opts_size covers a prefix). The
        layout written back records the order used."""
        known = self.layout_in.get(ctype, [])

        def names(f):
            return [d.split()[-1].lstrip("*") for d, _ in f.decls("builder")]
        old = [f for f in fields if names(f)[0] in known]
        old.sort(key=lambda f: known.index(names(f)[0]))
        out = old + [f for f in fields if names(f)[0] not in known]
        members = [n for f in out for n in names(f)]
        gone = [n for n in known if n not in members]
        if gone:
            raise SystemExit("%s: fields %s would disappear from the options struct, "
                             "breaking binaries built against it" % (ctype, ", ".join(gone)))
        self.layout_out[ctype] = members
        return out

    def enum_decl(self, e):
        out = ["", "/** %s */" % " | ".join(e.tokens), "typedef enum %s {" % e.type]
        for i, c in enumerate(e.consts):
            out.append("    %s = %d, /**< %s */" % (c, i + 1, e.tokens[i]))
        out.append("} %s;" % e.type)
        return out

    def prototypes(self, c):
        """[(prototype, macro or None)]: the builder's, then the
        convenience's. A function taking an options struct is declared
        with its name in parentheses, takes the struct's size last, and is
        called through a macro of the same name that passes it (variadic,
        as `rk_set(c, "k", "v", &(rk_set_opts){.ex = 1, .nx = true}, NULL)`
        has commas outside parentheses)."""
        target = "rk_conn *conn" if c.conn else "rk_client *c"
        tail = {
            "ok": [],
            "int": ["long long *out"],
            "nint": ["long long *out"],
            "double": ["double *out"],
            "str": ["char **out", "size_t *len"],
            "reply": ["rk_reply *reply"],
        }[c.output]
        opts = ["const %s *opts" % c.opts.ctype] if c.has_opts() else []
        out = []
        for ret, fn, first, form, extra in (
                ("rk_command *", c.builder, "rk_command *cmd", "builder", []),
                ("int ", c.fn, target, "conv", tail)):
            params = [first] + c.param_decls(form) + opts + extra
            if not c.has_opts():
                out.append(("%s%s(%s)" % (ret, fn, ", ".join(params)), None))
                continue
            # Variadic, so that a compound literal's commas pass through.
            proto = "%s(%s)(%s)" % (ret, fn, ", ".join(params + ["size_t opts_size"]))
            macro = "#define %s(...) (%s)(__VA_ARGS__, sizeof(%s))" % (fn, fn, c.opts.ctype)
            out.append((proto, macro))
        return out

    def header(self, group, cmds):
        out = [HEADER_TOP % {"group": group, "title": group.replace("_", " "), "GROUP": group.upper(), "version": self.version}]
        for c in cmds:
            body = []
            seen = set()

            def add_struct(t):
                s = self.structs[t]
                for it in s.body:
                    if isinstance(it, BlockRef) and it.type not in seen:
                        add_struct(it.type)
                for it in s.body:
                    if isinstance(it, Enum) and ("e:" + it.type) not in seen and not it.shared:
                        seen.add("e:" + it.type)
                        body.extend(self.enum_decl(it))
                seen.add(t)
                fields = [it for it in s.body if it.decls("builder")]
                body.extend(self.struct_decl(t, fields, "%s: the %s block." % (c.name.replace("|", " ").upper(), s.label())))

            for it in c.all_items():
                if isinstance(it, Enum) and not it.shared and ("e:" + it.type) not in seen:
                    seen.add("e:" + it.type)
                    body.extend(self.enum_decl(it))
                if isinstance(it, BlockRef) and it.type not in seen:
                    add_struct(it.type)
            if c.has_opts():
                body.extend(self.struct_decl(c.opts.ctype, self.stable_order(c.opts.ctype, c.opts_fields()), "Options of %s; NULL or zeroed: none." % c.name.replace("|", " ").upper()))
            body.append("")
            body.extend(c.summary_comment())
            protos = self.prototypes(c)
            body.extend(p + ";" for p, _ in protos)
            body.extend(m for _, m in protos if m)
            out.extend(body)
        out.append(HEADER_END)
        return "\n".join(out)

    def common_enums_header(self):
        out = []
        for t in sorted(self.enums):
            e, toks = self.enums[t]
            if e.shared:
                out.extend(self.enum_decl(e))
        return out

    # -- sources

    def emit_struct_fn(self, t, done, out):
        if t in done:
            return
        done.add(t)
        s = self.structs[t]
        for it in s.body:
            if isinstance(it, BlockRef):
                self.emit_struct_fn(it.type, done, out)
        out.append("")
        out.append("static void emit_%s(rk_command_int *cmd, const %s *b) {" % (t[3:], t))
        for cond, msg in s.inner.checks:
            out.append("    if (%s)" % cond)
            out.append("        rk_arg_invalid(cmd, %s);" % cstr(msg))
        for it in s.body:
            for l in it.emit():
                out.append("    " + l)
        out.append("}")

    def build_body(self, c):
        """(parameters, lines) of the function that appends c's arguments
        after its name; equal for commands built alike, whatever their
        names."""
        bparams = ["rk_command_int *cmd"] + c.param_decls("build")
        if c.has_opts():
            bparams.append("const %s *o" % c.opts.ctype)
        body = []
        for cond, msg in c.opts.checks + c.params.checks + spec.RULES.get(c.name, []):
            body += ["    if (%s)" % cond, "        rk_arg_invalid(cmd, %s);" % cstr(msg)]
        for it in c.items:
            body += ["    " + l for l in it.emit()]
        if c.shape:
            body.append("    cmd->shape = %s;" % c.shape)
        if c.name in spec.BLOCK:
            body.append("    cmd->block_ms = %s;" % spec.BLOCK[c.name])
        return tuple(bparams), tuple(body)

    def make_body(self, c, build):
        """The lines that start c's command and call its build function."""
        words = cstr(c.name.replace("|", " ").upper())
        args = ["cmd"] + [d.split()[-1].lstrip("*") for d in c.param_decls("build")]
        lines = ["    rk_command_int *cmd_in = rk_typed_begin(cmd, %s, %d);" % (words, self.meta_row(c.name))]
        if c.has_opts():
            lines += ["    %s o;" % c.opts.ctype,
                      "    if (rk_typed_opts(cmd_in, &o, sizeof(o), opts, opts_size))"]
            args.append("&o")
        else:
            lines.append("    if (cmd_in != NULL)")
        args[0] = "cmd_in"
        lines.append("        %s(%s);" % (build, ", ".join(args)))
        lines.append("    return cmd;")
        return lines

    def meta_row(self, name):
        """The command's row in the metadata table (src/meta/table.c, rows
        sorted by name): a hint the library checks, finding the row by
        name when the two tables disagree."""
        return self.meta_rows.get(name, -1)

    def conv_body(self, c, maker):
        """The convenience's body: builder, runner, typed result."""
        run = "rk_conn_run(conn, " if c.conn else "rk_client_run(c, "
        args = ["&cmd"] + c.build_args("conv") + (["opts", "opts_size"] if c.has_opts() else [])
        built = "%s(%s)" % (maker, ", ".join(args))
        name = cstr(c.name.replace("|", " ").upper())
        lines = ["    rk_command cmd;"]
        if c.output == "reply":
            return lines + ["    return %s%s, reply);" % (run, built)]
        lines.append("    rk_reply r;")
        call = "%s%s, &r)" % (run, built)
        typed = {
            "ok": "rk_typed_ok(%s, &r, %s)" % (call, name),
            "int": "rk_typed_integer(%s, &r, %s, out)" % (call, name),
            "nint": "rk_typed_integer(%s, &r, %s, out)" % (call, name),
            "double": "rk_typed_number(%s, &r, %s, out)" % (call, name),
            "str": "rk_typed_string(%s, &r, %s, out, len)" % (call, name),
        }[c.output]
        return lines + ["    return %s;" % typed]

    def source(self, group, cmds):
        out = ["/* Typed commands of the %s group. Generated by tools/gen-commands from" % group.replace("_", " "),
               " * Redis %s; do not edit (make commands). */" % self.version,
               '#include "rediskit/commands/%s.h"' % group,
               '#include "commands/typed_int.h"']
        used = set()

        def walk_enums(items):
            for it in items:
                if isinstance(it, Enum):
                    used.add(it.type)
                if isinstance(it, BlockRef):
                    walk_enums(it.body)
                if isinstance(it, Cond):
                    walk_enums(it.items)

        for c in cmds:
            walk_enums(c.items)
        if used:
            out.append("")
        for t in sorted(used):
            e, toks = self.enums[t]
            out.append("static const char *const %s_tokens[] = {%s};" % (t, ", ".join(cstr(x) for x in toks)))
        # Commands whose arguments are built the same way (LLEN, SCARD,
        # ZCARD...) share one build function.
        builds = {c.name: self.build_body(c) for c in cmds}
        users = {}
        for c in cmds:
            users.setdefault(builds[c.name], []).append(c)
        names = {key: "build_" + cs[0].cid for key, cs in users.items() if len(cs) == 1}
        taken = set(names.values())
        for key, cs in users.items():
            if len(cs) > 1:
                params = [d.split()[-1].lstrip("*") for d in key[0][1:]]
                params = [x for x in params if not x.endswith("_c")
                          and not (x.startswith("n") and x[1:] in params)]
                base = "build_" + ("_".join(params) if params else "bare")
                n, i = base, 2
                while n in taken:
                    n, i = "%s_%d" % (base, i), i + 1
                names[key] = n
                taken.add(n)
        done, emitted = set(), set()
        for c in cmds:
            for it in c.all_items():
                if isinstance(it, BlockRef):
                    self.emit_struct_fn(it.type, done, out)
            key = builds[c.name]
            fn = names[key]
            if fn not in emitted:
                emitted.add(fn)
                out.append("")
                if len(users[key]) > 1:
                    out.append("/* Builds %s. */" % ", ".join(
                        x.name.replace("|", " ").upper() for x in users[key]))
                body = list(key[1])
                if not body:
                    out.append("static void %s(%s) {" % (fn, ", ".join(key[0])))
                    out.append("    (void)cmd;")
                else:
                    out.append("static void %s(%s) {" % (fn, ", ".join(key[0])))
                    out.extend(body)
                out.append("}")
            (bproto, _), (cproto, _) = self.prototypes(c)
            opts = ["const %s *opts" % c.opts.ctype, "size_t opts_size"] if c.has_opts() else []
            maker = "(%s)" % c.builder if c.has_opts() else c.builder
            if c.has_str_list():
                # The builder's strings are rk_str, the convenience's C
                # strings: both go through one maker.
                maker = "make_" + c.cid
                out.append("")
                out.append("static rk_command *%s(%s) {" % (maker, ", ".join(
                    ["rk_command *cmd"] + c.param_decls("build") + opts)))
                out.extend(self.make_body(c, fn))
                out.append("}")
                out.append("")
                out.append(bproto + " {")
                out.append("    return %s(%s);" % (maker, ", ".join(
                    ["cmd"] + c.build_args("builder") + (["opts", "opts_size"] if opts else []))))
                out.append("}")
            else:
                out.append("")
                out.append(bproto + " {")
                out.extend(self.make_body(c, fn))
                out.append("}")
            out.append("")
            out.append(cproto + " {")
            out.extend(self.conv_body(c, maker))
            out.append("}")
        out.append("")
        return "\n".join(out)

    def table(self):
        out = ["/* Every command of Redis %s with its builder and its convenience function, for" % self.version,
               " * the coverage test. Generated by tools/gen-commands; do not edit (make commands). */",
               '#include "commands/table.h"', '#include "rediskit/commands.h"', "",
               "const rk_typed_entry rk_typed_table[] = {"]
        fns = {c.name: c for c in self.commands}
        for n in self.all_names:
            f = self.flags.get(n, [])
            bits = []
            if "readonly" in f and "write" not in f:
                bits.append("RK_TYPEDF_READONLY")
            if ("readonly" in f and "write" not in f) or n in spec.READS:
                bits.append("RK_TYPEDF_SAFE")
            if "write" in f:
                bits.append("RK_TYPEDF_WRITE")
            if "blocking" in f:
                bits.append("RK_TYPEDF_BLOCKING")
            if n in spec.CONNECTION or n in spec.HAND:
                bits.append("RK_TYPEDF_CONNECTION")
            flags = " | ".join(bits) or "0"
            if n in fns:
                c = fns[n]
                kind = "conn" if c.conn else "client"
                out.append("    {%s, %s, %s, %s, %s, (rk_typed_fn)(%s), (rk_typed_fn)(%s)}," % (
                    cstr(n), cstr(c.builder), cstr(c.fn), cstr(kind), flags, c.builder, c.fn))
                continue
            fn, kind = spec.HAND[n]
            # The pub/sub family is rk_pubsub's (src/features, a layer above):
            # named here, linked by the test.
            ptr = "NULL" if kind == "pubsub" else "(rk_typed_fn)(%s)" % fn
            out.append("    {%s, NULL, %s, %s, %s, NULL, %s}," % (cstr(n), cstr(fn), cstr(kind), flags, ptr))
        out.append("};")
        out.append("")
        out.append("const size_t rk_typed_table_len = sizeof(rk_typed_table) / sizeof(rk_typed_table[0]);")
        out.append("")
        return "\n".join(out)

    def tokens_source(self):
        out = []
        for t in sorted(self.enums):
            e, toks = self.enums[t]
            out.append("const char *const %s_tokens[] = {%s};" % (t, ", ".join(cstr(x) for x in toks)))
        return out


# ------------------------------------------------------------------ layout
#
# The generator lays its output out itself, so that reproducing it needs no
# clang-format: each file says `clang-format off` after its opening comment,
# and lines longer than WIDTH are wrapped here, comments at words and code
# at the commas between arguments.

WIDTH = 100
FORMAT_OFF = "/* clang-format off */"


def split_args(code):
    """code cut after each ", " and " + " outside string and character
    literals: the pieces that may go on separate lines."""
    pieces, start, quote, i = [], 0, None, 0
    while i < len(code):
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif code.startswith(", ", i) or code.startswith(" + ", i):
            cut = i + 1 if code[i] == "," else i + 2
            pieces.append(code[start:cut])
            start = cut + 1
            i = cut - 1
        i += 1
    return pieces + [code[start:]]


def wrap_define(line):
    """A long #define as lines of at most WIDTH, each but the last ended by
    a backslash, continuations indented by 8."""
    lines = fill("", split_args(line), lambda p: " " * 8, WIDTH, len(" \\"))
    return [l + " \\" for l in lines[:-1]] + lines[-1:]


def wrap_code(line):
    """A long line of code as lines of at most WIDTH where it can: pieces
    filled greedily, continuations lined up after the first ( or { (or
    indented by 8 when a piece would not fit there)."""
    if line.startswith("#define"):
        return wrap_define(line)
    indent = len(line) - len(line.lstrip())
    paren = line.find(")(") if indent == 0 else -1  # int (rk_set)(...: after the second (
    paren = paren + 1 if paren >= 0 else line.find("(")
    opens = [i for i in (paren, line.find("{", indent)) if i >= 0]
    col = min(opens) + 1 if opens else indent + 8

    def cont(piece):
        return " " * (col if col + len(piece) <= WIDTH else indent + 8)
    return fill("", split_args(line), cont, WIDTH)


def wrap_block_comment(line):
    """A long one-line /* ... */ or /** ... */ comment as a block of lines
    of at most WIDTH, cut at words."""
    indent = line[:len(line) - len(line.lstrip())]
    body = line.strip()
    opener = body.split(" ", 1)[0]
    words = body[len(opener):-2].split()
    lines = fill(indent + opener, words, lambda w: indent + " * ", WIDTH, len(" */"))
    return lines[:-1] + [lines[-1] + " */"]


def layout(text):
    """The file's text with FORMAT_OFF after its opening comment and its
    long lines wrapped."""
    lines = text.split("\n")
    end = next(i for i, l in enumerate(lines) if l.endswith("*/"))
    lines.insert(end + 1, FORMAT_OFF)
    out = []
    for line in lines:
        body = line.strip()
        if len(line) <= WIDTH:
            out.append(line)
        elif body.startswith("/*") and body.endswith("*/") and "*/" not in body[2:-2]:
            out.extend(wrap_block_comment(line))
        elif body.startswith("*") or body.startswith("/*"):
            out.append(line)
        else:
            out.extend(wrap_code(line))
    return "\n".join(out)


def write(path, text):
    text = layout(text)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old != text:
        with open(path, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default=SPEC)
    ap.add_argument("outdir")
    a = ap.parse_args()
    docs, info, version = read_spec(a.spec)
    g = Gen(docs, info, version)
    groups = {}
    for c in g.commands:
        groups.setdefault(c.group, []).append(c)
    inc = os.path.join(a.outdir, "include", "rediskit", "commands")
    src = os.path.join(a.outdir, "src", "commands", "gen")
    for group, cmds in sorted(groups.items()):
        write(os.path.join(inc, group + ".h"), g.header(group, cmds))
        write(os.path.join(src, group + ".c"), g.source(group, cmds))
    # shared enums and token tables
    enums = ["/** @file rediskit/commands/enums.h",
             " * rediskit: choices shared by several typed commands. Generated by",
             " * tools/gen-commands from Redis %s; do not edit (make commands). */" % version,
             "#ifndef RK_COMMANDS_ENUMS_H", "#define RK_COMMANDS_ENUMS_H"] + g.common_enums_header() + ["", "#endif", ""]
    write(os.path.join(inc, "enums.h"), "\n".join(enums))
    write(os.path.join(src, "table.c"), g.table())
    umbrella = ["/** @file rediskit/commands.h",
                " * rediskit: every Redis command as a typed C function. Generated by",
                " * tools/gen-commands from Redis %s; do not edit (make commands)." % version,
                " *",
                " * See rediskit/commands/common.h for the conventions. */",
                "#ifndef RK_COMMANDS_H", "#define RK_COMMANDS_H", ""]
    umbrella += ['#include "rediskit/commands/%s.h"' % grp for grp in sorted(groups)]
    umbrella += ["", "#endif", ""]
    write(os.path.join(a.outdir, "include", "rediskit", "commands.h"), "\n".join(umbrella))
    write_layout(a.outdir, g.layout_out)
    raw = [c.name for c in g.commands if c.raw]
    print("gen-commands: %d commands (%d generated, %d hand-written, %d with raw arguments: %s)" % (
        len(g.all_names), len(g.commands), len(spec.HAND), len(raw), " ".join(raw)), file=sys.stderr)


if __name__ == "__main__":
    main()

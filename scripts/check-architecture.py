#!/usr/bin/env python3
"""The architecture checks of .ci/run, read from the sources:

1. imports: each module of Sources/ (and the benchmarks) imports only what
   scripts/allowed-imports.txt allows it (the layering of docs/design.md); an import of another of
   our modules that is not listed fails, whatever its attributes or access level, several on a
   line too; imports in comments and string literals do not count;
2. names: no two Swift files of the same name, no type with a one-letter name;
3. size: no hand-written function or initializer of Sources/ or Benchmarks/ longer than
   --max-lines (80) with everything it encloses (a route function with its handlers), generated
   code (Sources/DLSMSProto) excepted.

`--self-test` shows that the import check fails: it copies the tree's allowed-imports table,
writes a GRPC file that imports seven modules it may not, in every form (and one it may, and
three in comments and strings), into a temporary tree, and exits 0 only if the check finds
exactly the seven.

Exit status 1 with one line per finding; 0 and a summary otherwise.
Usage: python3 scripts/check-architecture.py [--root DIR] [--max-lines N]
"""
import argparse
import os
import re
import sys

OURS = re.compile(r"^(DLSMS\w*|C[A-Z]\w*|dlsms)$")


def swift_files(root, top):
    for base, _, files in os.walk(os.path.join(root, top)):
        for f in sorted(files):
            if f.endswith(".swift"):
                yield os.path.join(base, f)


def module_of(root, path):
    rel = os.path.relpath(path, root).split(os.sep)
    return rel[1] if rel[0] in ("Sources", "Tests", "Benchmarks") else None


def read_allowed(path):
    allowed = {}
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        module, _, deps = line.partition(":")
        allowed[module.strip()] = set(deps.split())
    return allowed


IMPORT = re.compile(r"^(?:@[\w]+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|private|fileprivate)\s+)?"
                    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?(\w+)")


def imports(path):
    """(line number, module) of every import statement, outside comments and string literals;
    attributes (`@testable`, `@preconcurrency`, `@_spi(…)`, `@_implementationOnly`), access levels
    and several statements on one line included."""
    found, in_block, in_multiline = [], False, False
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        if raw.count('"""') % 2 == 1:
            in_multiline = not in_multiline
            continue
        if in_multiline:
            continue
        text, in_block = strip_strings(raw, in_block)
        for statement in text.split(";"):
            m = IMPORT.match(statement.strip())
            if m:
                found.append((n, m.group(1)))
    return found


def check_imports(root, allowed):
    problems = []
    for top in ("Sources", "Benchmarks"):
        for path in swift_files(root, top):
            module = module_of(root, path)
            if top == "Benchmarks":
                module = "Benchmarks"
            if module == "DLSMSProto":
                continue
            if module not in allowed:
                problems.append(f"{path}: module {module} is not in scripts/allowed-imports.txt")
                continue
            for n, imported in imports(path):
                if OURS.match(imported) and imported != module and imported not in allowed[module]:
                    problems.append(f"{path}:{n}: {module} may not import {imported} (scripts/allowed-imports.txt)")
    return problems


def check_names(root):
    problems, seen = [], {}
    for top in ("Sources", "Tests", "Benchmarks"):
        for path in swift_files(root, top):
            name = os.path.basename(path)
            if name in seen:
                problems.append(f"{path}: a second file named {name} (first: {seen[name]})")
            seen.setdefault(name, path)
            for n, line in enumerate(open(path, encoding="utf-8"), 1):
                if re.match(r"^\s*(?:\w+\s+)*(?:struct|class|enum|actor|protocol|typealias)\s+[A-Za-z]\b", line):
                    problems.append(f"{path}:{n}: a type with a one-letter name")
    return problems


def strip_strings(line, in_block):
    """The line without comments and string contents; whether a block comment goes on."""
    out, i = [], 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 2, False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block, i = True, i + 2
        elif line[i] == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            out.append('""')
            i = j + 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_block


DECL = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|private|fileprivate|internal|static|class|"
                  r"mutating|nonisolated|override|final|convenience|required)\s+)*(func\s+\w+|init\??|subscript)\b")


OTHER = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|private|fileprivate|internal|static|"
                   r"class|nonisolated|override|final|lazy|weak|unowned)\s+)*"
                   r"(?:var|let|case|associatedtype|typealias|struct|class|enum|extension|protocol|actor)\b")


def check_sizes(root, max_lines):
    problems = []
    for top in ("Sources", "Benchmarks"):
        for path in swift_files(root, top):
            if module_of(root, path) == "DLSMSProto":
                continue
            lines = open(path, encoding="utf-8").read().split("\n")
            in_block, depth, opened = False, 0, []  # opened: (name, start line, depth before)
            pending = None
            for n, raw in enumerate(lines, 1):
                text, in_block = strip_strings(raw, in_block)
                m = DECL.match(text)
                if m:
                    pending = (m.group(1), n)  # a declaration before it had no body (a requirement)
                elif OTHER.match(text):
                    pending = None
                for ch in text:
                    if ch == "{":
                        if pending is not None:
                            opened.append((pending[0], pending[1], depth))
                            pending = None
                        depth += 1
                    elif ch == "}":
                        depth -= 1
                        pending = None
                        if opened and opened[-1][2] == depth:
                            name, start, _ = opened.pop()
                            length = n - start + 1
                            if length > max_lines:
                                problems.append(f"{path}:{start}: {name} has {length} lines (at most {max_lines})")
    return problems


WRONG = """import DLSMSApp
@preconcurrency import DLSMSHTTP
internal import DLSMSReplication
public import DLSMSAssembly
import Foundation; import DLSMSLoad
@_implementationOnly import DLSMSWeb
@_spi(Testing) import DLSMSNetwork
@testable @preconcurrency import DLSMSProcess
/* import DLSMSHTTP */ // import DLSMSHTTP
let text = "import DLSMSHTTP"
let more = \"\"\"
import DLSMSHTTP
\"\"\"
"""


WRONG = (
    "import DLSMSApp\n"
    "@preconcurrency import DLSMSHTTP\n"
    "internal import DLSMSReplication\n"
    "public import DLSMSAssembly\n"
    "import Foundation; import DLSMSLoad\n"
    "@_implementationOnly import DLSMSWeb\n"
    "@_spi(Testing) import DLSMSNetwork\n"
    "@testable @preconcurrency import DLSMSProcess\n"
    "/* import DLSMSHTTP */ // import DLSMSHTTP\n"
    'let text = "import DLSMSHTTP"\n'
    'let more = """\n'
    "import DLSMSHTTP\n"
    '"""\n'
)
WRONG_FOUND = ["DLSMSHTTP", "DLSMSReplication", "DLSMSAssembly", "DLSMSLoad", "DLSMSWeb", "DLSMSNetwork", "DLSMSProcess"]


def self_test(root):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "scripts"))
        os.makedirs(os.path.join(tmp, "Sources", "DLSMSGRPC"))
        with open(os.path.join(root, "scripts", "allowed-imports.txt"), encoding="utf-8") as f:
            table = f.read()
        with open(os.path.join(tmp, "scripts", "allowed-imports.txt"), "w", encoding="utf-8") as f:
            f.write(table)
        with open(os.path.join(tmp, "Sources", "DLSMSGRPC", "Wrong.swift"), "w", encoding="utf-8") as f:
            f.write(WRONG)
        found = check_imports(tmp, read_allowed(os.path.join(tmp, "scripts", "allowed-imports.txt")))
    names = [f.split(" may not import ", 1)[1].split(" ")[0] for f in found if " may not import " in f]
    if names == WRONG_FOUND and len(found) == len(WRONG_FOUND):
        print(f"architecture check self-test: the {len(names)} deliberately wrong imports of a GRPC file are found "
              "(attributes, access levels, two on a line), none in a comment or a string")
        return 0
    print(f"architecture check self-test FAILED: expected {WRONG_FOUND}, got {found}", file=sys.stderr)
    return 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--max-lines", type=int, default=80)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    if args.self_test:
        return self_test(root)
    allowed = read_allowed(os.path.join(root, "scripts", "allowed-imports.txt"))
    problems = check_imports(root, allowed) + check_names(root) + check_sizes(root, args.max_lines)
    for p in problems:
        print(p)
    if problems:
        print(f"architecture check: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"architecture check: imports follow the layering of {len(allowed)} modules; names and sizes ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

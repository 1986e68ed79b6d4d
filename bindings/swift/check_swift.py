"""What can be checked of the Swift package without a Swift toolchain.

No Swift compiler can be installed on the machines this project is built on,
so the package is parsed instead (tree-sitter-swift), in two checks:

1. Syntax: every `.swift` file of the package parses with no error or
   missing node.
2. Calls: every call in the hand-written layer and its tests whose name
   the package itself declares (a function, an initializer of one of its
   types, an enum case) passes argument labels that one of those
   declarations accepts, in order, defaulted parameters left out; and when
   every declaration that accepts them is `async` (or `throws`), the call
   sits under an `await` (or a `try`) in its own closure or function.
   Calls of names the package does not declare (the standard library,
   Foundation) are not checked.
3. No `await` inside the arguments of an XCTest assertion: their
   autoclosures are not `async`, so `swiftc` rejects it.

Neither is a type check: types, optionals and overloads by type are left
to `swiftc`. `--self-test` first shows that each check fails
on a broken snippet.

Usage: python check_swift.py [--self-test] [DIR]  (DIR: the package, by default
this script's directory). Exits 1 on any finding.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter
import tree_sitter_swift

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))

# The grammar does not know this underscored attribute, which uniffi puts on
# internal declarations; it is blanked (same length) before parsing.
UNKNOWN_TO_GRAMMAR = re.compile(rb"@_documentation\(visibility: *private\)")

GENERATED = "Generated"

COMMENTS = ("comment", "multiline_comment")

# Names the package declares that Foundation or the standard library also
# declare, with the labels of the external declarations its code calls
# (on their types: `JSONDecoder().decode(_:from:)`, `Result.get()`, …).
EXTERNAL: dict[str, list[list[str | None]]] = {
    "Data": [[None]],
    "decode": [[None, "from"]],
    "encode": [[None]],
    "failure": [[None]],
    "get": [[]],
    "success": [[None]],
}


@dataclass
class Signature:
    """The parameter labels of one declaration (None: unlabeled), which of
    them have defaults, where it is, and whether it is `async` or `throws`."""

    labels: list[str | None]
    defaults: list[bool]
    where: str
    is_async: bool = False
    throws: bool = False

    def accepts(self, call: Sequence[str | None], trailing_closures: int) -> bool:
        """Whether a call with these labels (and trailing closures) fits."""
        params = list(zip(self.labels, self.defaults))
        if trailing_closures:
            # A trailing closure fills one of the last parameters.
            if len(params) < trailing_closures:
                return False
            params = params[: len(params) - trailing_closures]
        i = 0
        for label in call:
            while i < len(params) and params[i][0] != label and params[i][1]:
                i += 1  # a defaulted parameter left out
            if i == len(params) or params[i][0] != label:
                return False
            i += 1
        return all(default for _, default in params[i:])

    def spelled(self, name: str) -> str:
        """Swift's full name of the declaration, such as `f(_:label:)`."""
        return full_name(name, self.labels)


def full_name(name: str, labels: Sequence[str | None]) -> str:
    """Swift's full name of a declaration or call: `f(_:label:)`."""
    return name + "(" + "".join(f"{label or '_'}:" for label in labels) + ")"


@dataclass
class Declarations:
    """Every function, initializer and enum case the package declares, by
    base name (initializers under their type's name)."""

    by_name: dict[str, list[Signature]] = field(default_factory=dict)

    def add(self, name: str, signature: Signature) -> None:
        """Records one declaration of `name`."""
        self.by_name.setdefault(name, []).append(signature)


@dataclass
class Finding:
    """One problem, with where it is."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def parse(source: bytes) -> tree_sitter.Tree:
    """The syntax tree of `source`, with the grammar's unknown attribute blanked."""
    blanked = UNKNOWN_TO_GRAMMAR.sub(lambda m: b" " * len(m.group(0)), source)
    return PARSER.parse(blanked)


def syntax_errors(path: str, tree: tree_sitter.Tree, source: bytes) -> list[Finding]:
    """An error or missing node is a syntax error."""
    found: list[Finding] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.is_error or node.is_missing:
            line = source.splitlines()[node.start_point[0]].decode().strip()
            what = f"missing {node.type}" if node.is_missing else "syntax error"
            found.append(Finding(path, node.start_point[0] + 1, f"{what} near {line[:100]!r}"))
            return
        if node.has_error:
            for child in node.children:
                walk(child)

    walk(tree.root_node)
    return found


def text(node: tree_sitter.Node | None) -> str:
    """A node's source text ("" for no node)."""
    return (node.text or b"").decode() if node is not None else ""


def walk_all(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """`node` and every node under it, depth first."""
    yield node
    for child in node.children:
        yield from walk_all(child)


def type_name(declaration: tree_sitter.Node) -> str | None:
    """The name of a class, struct, enum, actor or extension declaration."""
    name = declaration.child_by_field_name("name")
    if name is None:
        return None
    # `extension A.B`: the last identifier is the type.
    identifiers = [n for n in walk_all(name) if n.type == "type_identifier"]
    return text(identifiers[-1]) if identifiers else text(name)


def enclosing_type(node: tree_sitter.Node) -> str | None:
    """The type (or extended type) a declaration sits in, if any."""
    parent = node.parent
    while parent is not None:
        if parent.type in ("class_declaration", "protocol_declaration"):
            return type_name(parent)
        parent = parent.parent
    return None


def parameters(node: tree_sitter.Node) -> tuple[list[str | None], list[bool]]:
    """A function's or initializer's argument labels and defaults."""
    labels: list[str | None] = []
    defaults: list[bool] = []
    children = node.children
    for i, child in enumerate(children):
        if child.type != "parameter":
            continue
        external = child.child_by_field_name("external_name")
        label = text(external) if external is not None else text(child.child_by_field_name("name"))
        labels.append(None if label == "_" else label)
        following = children[i + 1] if i + 1 < len(children) else None
        defaults.append(following is not None and following.type == "=")
    return labels, defaults


def enum_case_parameters(entry: tree_sitter.Node) -> list[tuple[str, Signature]]:
    """Each case of an `enum_entry` (`case a(x: T), b`), with its labels."""
    cases: list[tuple[str, Signature]] = []
    where = f"line {entry.start_point[0] + 1}"
    children = entry.children
    for i, child in enumerate(children):
        if child.type != "simple_identifier" or entry.field_name_for_child(i) != "name":
            continue
        contents = children[i + 1] if i + 1 < len(children) else None
        labels: list[str | None] = []
        if contents is not None and contents.type == "enum_type_parameters":
            expect_label = True
            parts = [p for p in contents.children if p.type not in COMMENTS]
            for j, part in enumerate(parts):
                if part.type in ("(", ","):
                    expect_label = True
                    continue
                if expect_label:
                    nxt = parts[j + 1] if j + 1 < len(parts) else None
                    is_label = (
                        part.type == "simple_identifier" and nxt is not None and nxt.type == ":"
                    )
                    labels.append(text(part) if is_label else None)
                    expect_label = False
        cases.append((text(child), Signature(labels, [False] * len(labels), where)))
    return cases


def stored_properties(body: tree_sitter.Node) -> tuple[list[str | None], list[bool]]:
    """A struct's memberwise initializer: its stored properties in order
    (a `var` with a value or of an optional type may be left out; a `let`
    with a value is not a parameter)."""
    labels: list[str | None] = []
    defaults: list[bool] = []
    for member in body.children:
        if member.type != "property_declaration":
            continue
        if any(c.type == "computed_property" for c in walk_all(member)):
            continue
        modifiers = [text(c) for c in member.children if c.type == "modifiers"]
        if any("static" in m for m in modifiers):
            continue
        binding = next((c for c in member.children if c.type == "value_binding_pattern"), None)
        mutability = text(binding) if binding is not None else ""
        has_value = member.child_by_field_name("value") is not None
        name = member.child_by_field_name("name")
        if name is None:
            continue
        if mutability == "let" and has_value:
            continue
        optional = any(c.type == "optional_type" for c in walk_all(member))
        labels.append(text(name))
        defaults.append(has_value or (mutability == "var" and optional))
    return labels, defaults


def external_declarations() -> Declarations:
    """The external declarations of [EXTERNAL]."""
    declarations = Declarations()
    for name, signatures in EXTERNAL.items():
        for labels in signatures:
            declarations.add(name, Signature(labels, [False] * len(labels), "Foundation"))
    return declarations


EXTERNAL_DECLARATIONS = external_declarations()


def effects(node: tree_sitter.Node) -> tuple[bool, bool]:
    """Whether a function or initializer is `async`, and whether it `throws`
    (`rethrows` depends on its closure: not counted)."""
    tokens = {(child.type, text(child)) for child in node.children}
    # The grammar gives `rethrows` the node type of `throws`.
    return ("async", "async") in tokens, ("throws", "throws") in tokens


def collect_declarations(path: str, tree: tree_sitter.Tree, into: Declarations) -> None:
    """Adds what one file declares."""
    for node in walk_all(tree.root_node):
        where = f"{path}:{node.start_point[0] + 1}"
        if node.type == "function_declaration":
            name = node.child_by_field_name("name")
            if name is not None:
                labels, defaults = parameters(node)
                into.add(text(name), Signature(labels, defaults, where, *effects(node)))
        elif node.type == "init_declaration":
            owner = enclosing_type(node)
            if owner is not None:
                labels, defaults = parameters(node)
                into.add(owner, Signature(labels, defaults, where, *effects(node)))
        elif node.type == "enum_entry":
            for case, signature in enum_case_parameters(node):
                signature.where = where
                into.add(case, signature)
        elif node.type == "class_declaration":
            kind = node.child_by_field_name("declaration_kind")
            body = node.child_by_field_name("body")
            struct = type_name(node)
            if kind is None or body is None or struct is None or text(kind) != "struct":
                continue
            has_init = any(c.type == "init_declaration" for c in body.children)
            if not has_init:
                labels, defaults = stored_properties(body)
                into.add(struct, Signature(labels, defaults, where + " (memberwise)"))


def callee_name(call: tree_sitter.Node) -> str | None:
    """The base name a call expression calls: `f(…)`, `a.b.f(…)`, `.f(…)`, `T(…)`."""
    callee = call.children[0] if call.children else None
    if callee is None:
        return None
    if callee.type == "simple_identifier":
        return text(callee)
    if callee.type == "navigation_expression":
        suffix = callee.child_by_field_name("suffix")
        name = suffix.child_by_field_name("suffix") if suffix is not None else None
        return text(name) if name is not None and name.type == "simple_identifier" else None
    if callee.type == "prefix_expression":
        operation = callee.child_by_field_name("operation")
        target = callee.child_by_field_name("target")
        if operation is not None and text(operation) == "." and target is not None:
            return text(target)
    if callee.type == "user_type":
        return text(callee)
    return None


def call_labels(call: tree_sitter.Node) -> tuple[list[str | None], int] | None:
    """A call's argument labels and its number of trailing closures."""
    suffix = next((c for c in call.children if c.type == "call_suffix"), None)
    if suffix is None:
        return None
    labels: list[str | None] = []
    closures = 0
    for part in suffix.children:
        if part.type == "value_arguments":
            if part.children and part.children[0].type == "[":
                return None  # a subscript, not a call
            for argument in part.children:
                if argument.type != "value_argument":
                    continue
                label = argument.child_by_field_name("name")
                labels.append(text(label).rstrip(":").strip() if label is not None else None)
        elif part.type == "lambda_literal":
            closures += 1
    return labels, closures


# Where a `try` or an `await` stops covering: a closure or a declaration.
SCOPES = ("lambda_literal", "function_declaration", "init_declaration", "computed_property")


def ancestors_in_scope(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """`node`'s ancestors, innermost first, up to its closure or declaration."""
    parent = node.parent
    while parent is not None and parent.type not in SCOPES:
        yield parent
        parent = parent.parent


def covered_by(call: tree_sitter.Node, marker: str) -> bool:
    """Whether a `try_expression` or `await_expression` holds `call` in its scope."""
    return any(parent.type == marker for parent in ancestors_in_scope(call))


def awaits_in_assertions(path: str, tree: tree_sitter.Tree) -> list[Finding]:
    """`await` inside an argument of an `XCT…` call, whose autoclosures are
    synchronous ("'async' call in an autoclosure that does not support
    concurrency")."""
    found: list[Finding] = []
    for node in walk_all(tree.root_node):
        if node.type != "await_expression":
            continue
        calls = (p for p in ancestors_in_scope(node) if p.type == "call_expression")
        name = next((n for n in map(callee_name, calls) if n and n.startswith("XCT")), None)
        if name is not None:
            line = node.start_point[0] + 1
            why = "XCTest's autoclosures are not async: await into a local first"
            found.append(Finding(path, line, f"`await` inside {name}(…): {why}"))
    return found


def call_findings(
    path: str, tree: tree_sitter.Tree, declarations: Declarations
) -> tuple[int, list[Finding]]:
    """Calls of the package's own names whose labels no declaration accepts,
    or that lack the `await` or `try` every accepting declaration needs;
    also how many calls were checked."""
    found: list[Finding] = []
    checked = 0
    for node in walk_all(tree.root_node):
        if node.type != "call_expression":
            continue
        name = callee_name(node)
        if name is None or name in ("init", "self", "super"):
            continue
        candidates = declarations.by_name.get(name)
        if not candidates:
            continue
        candidates = candidates + EXTERNAL_DECLARATIONS.by_name.get(name, [])
        shape = call_labels(node)
        if shape is None:
            continue
        labels, closures = shape
        checked += 1
        accepting = [s for s in candidates if s.accepts(labels, closures)]
        line = node.start_point[0] + 1
        if accepting:
            if all(s.is_async for s in accepting) and not covered_by(node, "await_expression"):
                found.append(Finding(path, line, f"{name} is async: the call needs `await`"))
            if all(s.throws for s in accepting) and not covered_by(node, "try_expression"):
                found.append(Finding(path, line, f"{name} throws: the call needs `try`"))
            continue
        called = full_name(name, labels)
        if closures:
            called += f" + {closures} trailing closure(s)"
        known = "; ".join(f"{s.spelled(name)} at {s.where}" for s in candidates[:4])
        found.append(Finding(path, line, f"no declaration takes {called}: {known}"))
    return checked, found


def check(package: Path) -> int:
    """Runs the three checks on a package directory; prints findings; the count."""
    files = sorted(package.rglob("*.swift"))
    trees = {}
    findings: list[Finding] = []
    declarations = Declarations()
    for file in files:
        source = file.read_bytes()
        tree = parse(source)
        name = str(file.relative_to(package))
        trees[name] = tree
        findings += syntax_errors(name, tree, source)
        collect_declarations(name, tree, declarations)
    checked = 0
    for name, tree in trees.items():
        if GENERATED in Path(name).parts or name == "Package.swift":
            continue  # uniffi's own output calls itself; only our calls are checked
        count, mismatches = call_findings(name, tree, declarations)
        checked += count
        findings += mismatches
        findings += awaits_in_assertions(name, tree)
    for finding in findings:
        print(finding)
    signatures = [s for v in declarations.by_name.values() for s in v]
    asyncs = sum(s.is_async for s in signatures)
    throwing = sum(s.throws for s in signatures)
    print(
        f"swift: {len(files)} files parsed, {len(signatures)} declarations "
        f"({asyncs} async, {throwing} throws), "
        f"{checked} calls of them checked, {len(findings)} findings"
    )
    return len(findings)


BROKEN_SYNTAX = b"public func f(_ a: Int {\n    return a\n}\n"
BROKEN_CALLS = b"""
public enum Op { case put(key: String, valueJson: String) }
public struct Entry { public let key: String; public var n: Int = 0 }
public func call(_ object: String, method: String, params: String = "") {}
public func fetch(_ key: String) async throws -> String { key }
func use() async throws -> Op {
    call("o", method: "m")
    call("o", "m")
    _ = Entry(key: "k")
    _ = Entry(value: "k")
    _ = try await fetch("k")
    _ = try fetch("k")
    _ = await fetch("k")
    _ = try await [1].map { _ in fetch("k") }
    XCTAssertEqual(try await fetch("k"), "k")
    forEvery {}
    return .put(key: "k", value: "v")
}
public func forEvery(_ body: () throws -> Void) rethrows {}
"""


def self_test() -> None:
    """Each check must find what is broken in a snippet, and only that."""
    tree = parse(BROKEN_SYNTAX)
    assert syntax_errors("s", tree, BROKEN_SYNTAX), "a missing ')' was not reported"
    tree = parse(BROKEN_CALLS)
    assert not syntax_errors("s", tree, BROKEN_CALLS), "the calls snippet should parse"
    declarations = Declarations()
    collect_declarations("s", tree, declarations)
    checked, found = call_findings("s", tree, declarations)
    found += awaits_in_assertions("s", tree)
    got = sorted((f.line, f.text.split(":")[0]) for f in found)
    expected = [
        (8, "no declaration takes call(_"),
        (10, "no declaration takes Entry(value"),
        (12, "fetch is async"),
        (13, "fetch throws"),
        (14, "fetch is async"),
        (14, "fetch throws"),
        (15, "`await` inside XCTAssertEqual(…)"),
        (17, "no declaration takes put(key"),
    ]
    assert checked == 11, f"expected 11 checked calls, got {checked}"
    assert got == expected, f"expected {expected}, got {got}"
    print(
        "swift: self-test passed (a syntax error, three wrong label sets, "
        "two missing `await`, two missing `try` and an `await` in an assertion found)"
    )


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--self-test"]
    if "--self-test" in argv:
        self_test()
    package = Path(args[0]) if args else Path(__file__).resolve().parent
    return 1 if check(package) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

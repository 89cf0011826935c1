"""A small, safe expression language for calculated fields and element filters.

SQL-like: arithmetic, comparisons, AND/OR/NOT with the usual precedence, CASE WHEN, LIKE,
IN, IS [NOT] NULL/EMPTY and a few functions. Parsed once into closures; never `eval`.
Names are bound by the caller (attributes of the row element, or declared inputs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xmlload.contract import functions as fn_lib
from xmlload.contract.values import compare, logical_and, logical_not, logical_or
from xmlload.errors import ExpressionError

Env = Mapping[str, Any]
Evaluator = Callable[[Env], Any]

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><>|!=|<=|>=|\|\||[-+*/%=<>(),]))"
)
_KEYWORDS = {
    "AND",
    "OR",
    "NOT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IS",
    "NULL",
    "EMPTY",
    "LIKE",
    "IN",
    "TRUE",
    "FALSE",
}
_COMPARISONS = {"=", "!=", "<>", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    position: int


def text_literal(value: object) -> str:
    """A text value written as an expression literal: `'O''Brien'` (for code that writes
    expressions, such as the importer)."""
    return "'" + str(value).replace("'", "''") + "'"


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if not match:
            offset = len(source) - len(source[position:].lstrip())
            character = source[offset]
            hint = " (names are plain; use inputs to bind a path)" if character == "." else ""
            raise ExpressionError(
                f"unexpected character {character!r} at position {offset + 1}{hint}"
            )
        kind = match.lastgroup or "op"
        text = match.group(kind)
        start = match.start(kind)
        if kind == "name" and text.upper() in _KEYWORDS:
            kind, text = "keyword", text.upper()
        tokens.append(Token(kind, text, start + 1))
        position = match.end()
    tokens.append(Token("end", "", len(source) + 1))
    return tokens


@dataclass
class Expression:
    """A compiled expression: call `evaluate(env)`; `names` are the identifiers it reads."""

    source: str
    evaluate: Evaluator
    names: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Node:
    run: Evaluator
    literal: bool = False
    value: Any = None


def _literal(value: Any) -> _Node:
    return _Node(lambda env: value, literal=True, value=value)


class _Parser:
    def __init__(
        self,
        source: str,
        date_formats: list[str],
        maps: Mapping[str, Callable[[Any], Any]],
        functions: fn_lib.FunctionTable,
    ) -> None:
        self.tokens = tokenize(source)
        self.index = 0
        self.names: set[str] = set()
        self.formats = date_formats
        self.maps = maps
        self.functions = functions

    # -- token helpers -------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        token = self.peek()
        if token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return token
        return None

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.accept(kind, text)
        if token is None:
            found = self.peek()
            wanted = text or kind
            shown = found.text or "end of expression"
            raise ExpressionError(
                f"expected {wanted} at position {found.position}, found {shown!r}"
            )
        return token

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> _Node:
        node = self.disjunction()
        self.expect("end")
        return node

    def disjunction(self) -> _Node:
        node = self.conjunction()
        while self.accept("keyword", "OR"):
            left, right = node.run, self.conjunction().run
            node = _Node(lambda env, a=left, b=right: logical_or(a, b, env))
        return node

    def conjunction(self) -> _Node:
        node = self.negation()
        while self.accept("keyword", "AND"):
            left, right = node.run, self.negation().run
            node = _Node(lambda env, a=left, b=right: logical_and(a, b, env))
        return node

    def negation(self) -> _Node:
        if self.accept("keyword", "NOT"):
            inner = self.negation().run
            return _Node(lambda env: logical_not(inner(env)))
        return self.comparison()

    def comparison(self) -> _Node:
        left = self.additive()
        token = self.peek()
        if token.kind == "op" and token.text in _COMPARISONS:
            self.index += 1
            right = self.additive()
            return self._compare(token.text, left, right)
        if self.accept("keyword", "IS"):
            negate = self.accept("keyword", "NOT") is not None
            test = self._null_test() if self.accept("keyword", "NULL") else None
            if test is None:
                self.expect("keyword", "EMPTY")
                test = fn_lib.is_empty
            operand = left.run
            return _Node(lambda env: test(operand(env)) != negate)
        negate = self.accept("keyword", "NOT") is not None
        if self.accept("keyword", "LIKE"):
            return self._like(left.run, self.additive(), negate)
        if self.accept("keyword", "IN"):
            return self._in(left.run, negate)
        if negate:
            raise ExpressionError(f"expected LIKE or IN after NOT at position {token.position}")
        return left

    @staticmethod
    def _null_test() -> Callable[[Any], bool]:
        return lambda value: value is None

    def _compare(self, op: str, left: _Node, right: _Node) -> _Node:
        formats = self.formats
        run_left, run_right = left.run, right.run
        if op == "=" and right.literal and isinstance(right.value, str):
            text = right.value  # the common `code = 'X'`: equal text needs no coercion

            def equals(env: Env) -> bool | None:
                value = run_left(env)
                if value.__class__ is str:
                    return value == text
                return compare(op, value, text, formats)

            return _Node(equals)
        return _Node(lambda env: compare(op, run_left(env), run_right(env), formats))

    def _like(self, operand: Evaluator, pattern: _Node, negate: bool) -> _Node:
        if pattern.literal:
            regex = fn_lib.like_regex(str(pattern.value))
            return _Node(lambda env: fn_lib.like(operand(env), regex, negate))
        run = pattern.run
        return _Node(lambda env: fn_lib.like(operand(env), fn_lib.like_regex(run(env)), negate))

    def _in(self, operand: Evaluator, negate: bool) -> _Node:
        self.expect("op", "(")
        options = [self.disjunction()]
        while self.accept("op", ","):
            options.append(self.disjunction())
        self.expect("op", ")")
        formats = self.formats
        runs = [option.run for option in options]
        if all(option.literal and isinstance(option.value, str) for option in options):
            texts = frozenset(option.value for option in options)

            def text_member(env: Env) -> bool | None:
                value = operand(env)
                if value.__class__ is str:
                    return (value in texts) != negate
                if value is None:
                    return None
                found = any(compare("=", value, text, formats) for text in texts)
                return found != negate

            return _Node(text_member)

        def member(env: Env) -> bool | None:
            value = operand(env)
            if value is None:
                return None
            found = any(compare("=", value, run(env), formats) for run in runs)
            return found != negate

        return _Node(member)

    def additive(self) -> _Node:
        node = self.multiplicative()
        while (token := self.peek()).kind == "op" and token.text in {"+", "-", "||"}:
            self.index += 1
            left, right = node.run, self.multiplicative().run
            operation = fn_lib.BINARY[token.text]
            node = _Node(lambda env, a=left, b=right, f=operation: f(a(env), b(env)))
        return node

    def multiplicative(self) -> _Node:
        node = self.unary()
        while (token := self.peek()).kind == "op" and token.text in {"*", "/", "%"}:
            self.index += 1
            left, right = node.run, self.unary().run
            operation = fn_lib.BINARY[token.text]
            node = _Node(lambda env, a=left, b=right, f=operation: f(a(env), b(env)))
        return node

    def unary(self) -> _Node:
        if self.accept("op", "-"):
            inner = self.unary().run
            return _Node(lambda env: fn_lib.negate(inner(env)))
        return self.primary()

    def primary(self) -> _Node:
        token = self.peek()
        self.index += 1
        if token.kind == "number":
            return _literal(Decimal(token.text))
        if token.kind == "string":
            return _literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "keyword" and token.text in {"TRUE", "FALSE", "NULL"}:
            return _literal({"TRUE": True, "FALSE": False, "NULL": None}[token.text])
        if token.kind == "keyword" and token.text == "CASE":
            return self.case()
        if token.kind == "op" and token.text == "(":
            node = self.disjunction()
            self.expect("op", ")")
            return node
        if token.kind == "name":
            if self.accept("op", "("):
                return self.call(token)
            self.names.add(token.text)
            name = token.text
            return _Node(lambda env: env.get(name))
        shown = token.text or "end of expression"
        raise ExpressionError(f"unexpected {shown!r} at position {token.position}")

    def call(self, token: Token) -> _Node:
        name = token.text.upper()
        if name == "MAP":
            return self.map_call(token)
        function = self.functions.get(name)
        if function is None:
            known = ", ".join(sorted(self.functions))
            raise ExpressionError(
                f"unknown function {token.text!r} at position {token.position}; known: {known}"
            )
        args: list[_Node] = []
        if name in fn_lib.UNIT_FUNCTIONS:
            unit = self.expect("name")
            args.append(_literal(fn_lib.check_unit(unit.text)))
            self.expect("op", ",")
        if not self.accept("op", ")"):
            args.append(self.disjunction())
            while self.accept("op", ","):
                args.append(self.disjunction())
            self.expect("op", ")")
        fn_lib.check_arity(name, len(args), token.position)
        runs = [arg.run for arg in args]
        formats = self.formats
        if name in fn_lib.PURE and all(arg.literal for arg in args):
            return _literal(function(formats, *[arg.value for arg in args]))
        return _Node(lambda env: function(formats, *[run(env) for run in runs]))

    def map_call(self, token: Token) -> _Node:
        """MAP('name', x): the contract's value map `name` applied to x (NULL stays NULL)."""
        quoted = self.peek()
        if quoted.kind != "string":
            raise ExpressionError(
                f"MAP at position {token.position} takes a value map name in quotes first"
            )
        self.index += 1
        map_name = quoted.text[1:-1].replace("''", "'")
        lookup = self.maps.get(map_name)
        if lookup is None:
            known = ", ".join(sorted(self.maps)) or "none"
            raise ExpressionError(
                f"unknown value map {map_name!r} in MAP at position {token.position}; "
                f"defined: {known}"
            )
        self.expect("op", ",")
        value = self.disjunction().run
        self.expect("op", ")")
        return _Node(lambda env: None if fn_lib.is_empty(found := value(env)) else lookup(found))

    def case(self) -> _Node:
        operand = None
        if self.peek().text != "WHEN":
            operand = self.additive().run
        branches: list[tuple[Evaluator, Evaluator]] = []
        while self.accept("keyword", "WHEN"):
            condition = self.disjunction().run
            self.expect("keyword", "THEN")
            branches.append((condition, self.disjunction().run))
        if not branches:
            self.expect("keyword", "WHEN")
        otherwise = self.disjunction().run if self.accept("keyword", "ELSE") else None
        self.expect("keyword", "END")
        formats = self.formats

        def choose(env: Env) -> Any:
            subject = operand(env) if operand is not None else None
            for condition, result in branches:
                hit = (
                    compare("=", subject, condition(env), formats)
                    if operand is not None
                    else condition(env)
                )
                if fn_lib.truth(hit):
                    return result(env)
            return otherwise(env) if otherwise is not None else None

        return _Node(choose)


def compile_expression(
    source: str,
    date_formats: list[str],
    maps: Mapping[str, Callable[[Any], Any]] | None = None,
    functions: fn_lib.FunctionTable = fn_lib.FUNCTIONS,
) -> Expression:
    """Parse `source` once; raise ExpressionError with the position of a syntax error.

    `maps` are the contract's value maps by name, for MAP('name', x); `functions` the
    plan's own (the built-ins and its extensions')."""
    parser = _Parser(source, date_formats, maps or {}, functions)
    node = parser.parse()
    return Expression(source, node.run, parser.names)

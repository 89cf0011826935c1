"""The `xmlconversion` expression dialect: expressions evaluated exactly as the
XmlConversion system evaluates its `calculated_field` expressions, quirks included.

Contracts imported from that system use it so both systems write the same values (see
docs/contract.md, "Expression dialects"). It is not a grammar: CASE is split with regular
expressions, conditions have no precedence, unquoted numbers in comparisons are names,
names in THEN/ELSE are looked up exactly while conditions ignore case. Any failure makes
the whole value None, as there.

Names are the expression's inputs, in the order declared; a name whose input found
nothing is absent (not None).
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xmlload.errors import ExpressionError

Context = Mapping[str, Any]

_CASE_SHAPE = re.compile(
    r"CASE\s+WHEN\s+.+?\s+THEN\s+.+?(\s+WHEN\s+.+?\s+THEN\s+.+?)*(\s+ELSE\s+.+?)?\s+END",
    re.IGNORECASE | re.DOTALL,
)
_CASE_WORDS = re.compile(r"\b(?:CASE|END)\b", re.IGNORECASE)
_WHEN = re.compile(r"\s+WHEN\s+", re.IGNORECASE)
_THEN = re.compile(r"\s+THEN\s+", re.IGNORECASE)
_ELSE = re.compile(r"\s+ELSE\s+", re.IGNORECASE)
_LEADING_WHEN = re.compile(r"^\s*WHEN\s+", re.IGNORECASE)
_IS_TESTS = [
    (re.compile(r"^(.+?)\s+IS\s+NOT\s+EMPTY$", re.IGNORECASE | re.DOTALL), "not_empty"),
    (re.compile(r"^(.+?)\s+IS\s+EMPTY$", re.IGNORECASE | re.DOTALL), "empty"),
    (re.compile(r"^(.+?)\s+IS\s+NOT\s+NULL$", re.IGNORECASE | re.DOTALL), "not_null"),
    (re.compile(r"^(.+?)\s+IS\s+NULL$", re.IGNORECASE | re.DOTALL), "null"),
]
_LIKE = re.compile(r"^(.+?)\s+LIKE\s+(.+)$", re.IGNORECASE | re.DOTALL)
_OPERATORS = ["!=", "<=", ">=", "=", "<", ">"]
_DATE_CALL = re.compile(r"^DATE\((.*)\)$", re.IGNORECASE | re.DOTALL)
_DATEADD = re.compile(r"^DATEADD\((.*)\)$", re.IGNORECASE | re.DOTALL)
_QUOTED = re.compile(r"""^(['"])(.*)\1$""", re.DOTALL)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_ARITHMETIC_CHARS = re.compile(r"""^[A-Za-z0-9_+\-*/().'"\s]*$""")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_COMPARE_FORMATS = ["%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def check(expression: str) -> None:
    """Raise ExpressionError when the text can never give a value (checked at load)."""
    if not expression.strip():
        raise ExpressionError("empty expression")
    if "CASE" in expression.upper():
        if not _CASE_SHAPE.search(expression):
            raise ExpressionError("CASE without WHEN ... THEN ... END")
        _branches(expression)
    elif not _ARITHMETIC_CHARS.match(expression):
        raise ExpressionError("arithmetic allows only names, numbers, + - * / ( ) and quotes")


def evaluate(expression: str, context: Context) -> Any:
    """The expression's value, or None wherever the reference engine gives None."""
    return compiled(expression, tuple(context))(context)


Evaluator = Callable[[Context], Any]


@functools.lru_cache(maxsize=4096)
def compiled(expression: str, names: tuple[str, ...]) -> Evaluator:
    """`evaluate` made into a function of a context whose keys are among `names`, in that
    order (an expression's inputs): the text is split and its names resolved once, with the
    same result as reading it every time."""
    if "CASE" in expression.upper():
        inner = _compiled_case(expression, names)
    else:
        inner = functools.partial(_arithmetic, expression)

    def value(context: Context) -> Any:
        try:
            return inner(context)
        except (ExpressionError, ArithmeticError, ValueError, TypeError, OverflowError):
            return None

    return value


@functools.lru_cache(maxsize=4096)
def _branches(expression: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
    if not _CASE_SHAPE.search(expression):
        raise ExpressionError("CASE without WHEN ... THEN ... END")
    body = _CASE_WORDS.sub("", expression).strip()
    branches: list[tuple[str, str]] = []
    otherwise: str | None = None
    for part in _WHEN.split(body):
        if "THEN" not in part.upper():
            continue
        pieces = _THEN.split(part, maxsplit=1)
        if len(pieces) != 2:
            raise ExpressionError(f"cannot split {part!r} at THEN")
        condition, value = _LEADING_WHEN.sub("", pieces[0]), pieces[1]
        if "ELSE" in value.upper():
            pieces = _ELSE.split(value, maxsplit=1)
            if len(pieces) == 2:
                value, otherwise = pieces
        branches.append((condition.strip(), value.strip()))
    return tuple(branches), None if otherwise is None else otherwise.strip()


def _compiled_case(expression: str, names: tuple[str, ...]) -> Evaluator:
    """Branches in order, each as when tested alone, but sooner: consecutive AND chains
    that start with the same condition share one test of it (`x IS NOT EMPTY AND t = 'A'`,
    `x IS NOT EMPTY AND t = 'B'`, ...), and consecutive tests of one name against text
    literals are one dictionary lookup (the first branch naming a literal wins)."""
    branches, otherwise = _branches(expression)
    groups = _groups(branches, names)
    last = (lambda context: None) if otherwise is None else _compiled_value(otherwise, names)

    def case(context: Context) -> Any:
        for head, picks in groups:
            if head is not None:
                try:
                    if not head(context):
                        continue
                except _FAILURES:
                    continue
            for pick in picks:
                chosen = pick(context)
                if chosen is not None:
                    return chosen(context)
        return last(context)

    return case


_FAILURES = (ExpressionError, ArithmeticError, ValueError, TypeError)
# A branch (or a run of them): the value to give when it holds, else None.
Pick = Callable[[Context], "Evaluator | None"]
Group = tuple["Test | None", list[Pick]]


def _groups(branches: tuple[tuple[str, str], ...], names: tuple[str, ...]) -> list[Group]:
    """(shared first condition or None, the picks of the rest of each condition)."""
    groups: list[tuple[Test | None, list[_Member]]] = []
    last_head: str | None = None
    for condition, value in branches:
        then = _compiled_value(value, names)
        joiner, parts = _split_condition(condition)
        if joiner != "AND":
            if groups and last_head is None and groups[-1][0] is None:
                groups[-1][1].append(_Member(condition, None, then))
            else:
                groups.append((None, [_Member(condition, None, then)]))
            last_head = None
            continue
        head, rest = parts[0].strip(), parts[1:]
        if head == last_head:
            groups[-1][1].append(_Member(None, rest, then))
        else:
            groups.append((_compiled_simple(head, names), [_Member(None, rest, then)]))
            last_head = head
    return [(head, _picks(members, names)) for head, members in groups]


@dataclass(frozen=True)
class _Member:
    """A branch of a group: its whole condition, or the rest of its AND chain."""

    condition: str | None
    rest: tuple[str, ...] | None
    then: Evaluator

    def single(self) -> str | None:
        """The text of its one simple condition, if it is one."""
        if self.rest is not None:
            return self.rest[0] if len(self.rest) == 1 else None
        assert self.condition is not None
        return None if _split_condition(self.condition)[0] else self.condition

    def test(self, names: tuple[str, ...]) -> Test:
        if self.condition is not None:
            return _compiled_condition(self.condition, names)
        assert self.rest is not None
        tests = tuple(_compiled_simple(part, names) for part in self.rest)
        return tests[0] if len(tests) == 1 else _every(tests)


def _picks(members: list[_Member], names: tuple[str, ...]) -> list[Pick]:
    picks: list[Pick] = []
    run: list[tuple[str, str, str, Evaluator]] = []  # consecutive `name = 'text'` branches
    for member in members:
        text = member.single()
        equality = None if text is None else _text_equality(text)
        if equality is not None and run and run[-1][0] != equality[0]:
            picks.append(_switch(run, names))
            run = []
        if equality is not None:
            run.append((*equality, text, member.then))  # type: ignore[arg-type]
            continue
        if run:
            picks.append(_switch(run, names))
            run = []
        picks.append(_branch(member.test(names), member.then))
    if run:
        picks.append(_switch(run, names))
    return picks


def _branch(test: Test, then: Evaluator) -> Pick:
    def pick(context: Context) -> Evaluator | None:
        try:
            return then if test(context) else None
        except _FAILURES:
            return None

    return pick


def _text_equality(text: str) -> tuple[str, str] | None:
    """(name, literal) of a condition `name = 'literal'` whose literal is not a number."""
    try:
        kind, first, second = _parse_simple(text)
    except ExpressionError:
        return None
    literal = _literal(second) if kind == "=" else None
    if literal is None or _as_float(literal) is not None or _DATE_CALL.match(first.strip()):
        return None
    return first.strip(), literal


def _switch(run: list[tuple[str, str, str, Evaluator]], names: tuple[str, ...]) -> Pick:
    """Branches testing one name against text literals, as one lookup of its value."""
    read = _looked_up(run[0][0], names)
    table: dict[str, Evaluator] = {}
    for _, literal, _, then in run:
        table.setdefault(literal, then)
    in_order = [_branch(_compiled_simple(text, names), then) for _, _, text, then in run]

    def pick(context: Context) -> Evaluator | None:
        value = read(context)
        if isinstance(value, datetime):  # compares as a date: branch by branch
            return next((c for c in (p(context) for p in in_order) if c is not None), None)
        return table.get("" if value is None else str(value))

    return pick


Test = Callable[[Context], bool]


def _compiled_condition(text: str, names: tuple[str, ...]) -> Test:
    joiner, parts = _split_condition(text)
    tests = tuple(_compiled_simple(part, names) for part in parts)
    if joiner == "AND":
        return _every(tests)
    if joiner == "OR":
        return lambda context: any(test(context) for test in tests)
    return tests[0]


def _every(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda context: first(context) and second(context)
    return lambda context: all(test(context) for test in tests)


@functools.lru_cache(maxsize=4096)
def _split_condition(text: str) -> tuple[str, tuple[str, ...]]:
    """AND chains, else OR chains, are split on the uppercased text (no precedence)."""
    upper = text.upper()
    if " AND " in upper:
        return "AND", tuple(upper.split(" AND "))
    if " OR " in upper:
        return "OR", tuple(upper.split(" OR "))
    return "", (text,)


Operand = Callable[[Context], Any]


def _looked_up(name: str, names: tuple[str, ...]) -> Operand:
    """Condition lookup of a trimmed name: exact, else the first key equal in any case, else
    ''. The keys that can answer are known from `names`; only their presence varies."""
    folded = name.lower()
    candidates = [key for key in names if key == name]
    candidates += [key for key in names if key.lower() == folded and key != name]
    if not candidates:
        return lambda context: ""
    if len(candidates) == 1:
        only = candidates[0]
        return lambda context: context.get(only, "")

    def lookup(context: Context) -> Any:
        for key in candidates:
            if key in context:
                return context[key]
        return ""

    return lookup


_IS: dict[str, Callable[[Any], bool]] = {
    "not_empty": lambda value: not (value is None or str(value).strip() == ""),
    "empty": lambda value: value is None or str(value).strip() == "",
    "not_null": lambda value: not (value is None or value == ""),
    "null": lambda value: value is None or value == "",
}


def _compiled_simple(text: str, names: tuple[str, ...]) -> Test:
    try:
        kind, first, second = _parse_simple(text)
    except ExpressionError as error:
        return functools.partial(_fails, error)  # as the reference: when it is evaluated
    if kind == "like":
        name, regex = _looked_up(first.strip(), names), second
        return lambda context: regex.match(str(name(context) or "").upper()) is not None
    if kind in _COMPARE:
        left = _operand(first, names, right_side=False)
        literal = _literal(second)
        if literal is not None and _as_float(literal) is None:
            return _text_comparison(left, literal, kind)
        right = _operand(second, names, right_side=True)
        return lambda context: _safe_compare(left(context), right(context), kind)
    read, test = _looked_up(first.strip(), names), _IS[kind]
    return lambda context: test(read(context))


def _fails(error: ExpressionError, context: Context) -> bool:
    raise error


def _text_comparison(left: Operand, literal: str, symbol: str) -> Test:
    """`_safe_compare` against a quoted literal that is not a number: the value compares
    as text (a date value still goes the general way)."""
    compare = _COMPARE[symbol]

    def test(context: Context) -> bool:
        value = left(context)
        if isinstance(value, datetime):
            return _safe_compare(value, literal, symbol)
        return compare("" if value is None else str(value), literal)

    return test


def _literal(text: str) -> str | None:
    quoted = _QUOTED.match(text.strip())
    return None if quoted is None else quoted.group(2)


def _operand(text: str, names: tuple[str, ...], right_side: bool) -> Operand:
    """The left or right side of a comparison as a function of the context."""
    text = text.strip()
    call = _DATE_CALL.match(text)
    if call is not None:
        inner = call.group(1).strip()
        quoted = _QUOTED.match(inner)
        fallback = _looked_up(text, names)
        if quoted is not None:
            constant = _parse_date(quoted.group(2))
            if constant is not None:
                return lambda context: constant
            return fallback

        def dated(context: Context) -> Any:
            parsed = _parse_date(context.get(inner))
            return parsed if parsed is not None else fallback(context)

        return dated
    quoted = _QUOTED.match(text) if right_side else None
    if quoted is not None:
        literal = quoted.group(2)
        return lambda context: literal
    return _looked_up(text, names)


@functools.lru_cache(maxsize=8192)
def _parse_simple(text: str) -> tuple[str, Any, Any]:
    """(test, name or left operand, LIKE regex or right operand), parsed once per text."""
    text = text.strip()
    for pattern, test in _IS_TESTS:
        match = pattern.match(text)
        if match:
            return test, match.group(1), None
    match = _LIKE.match(text)
    if match:
        pattern = _unquote(match.group(2).strip()).upper().replace("%", ".*").replace("_", ".")
        return "like", match.group(1), re.compile(f"^{pattern}$", re.IGNORECASE)
    for symbol in _OPERATORS:
        if symbol in text:
            left, right = text.split(symbol, 1)
            return symbol, left, right
    raise ExpressionError(f"not a condition: {text!r}")


def _unquote(text: str) -> str:
    match = _QUOTED.match(text)
    return match.group(2) if match else text


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    return _parse_text_date(value)


@functools.lru_cache(maxsize=4096)
def _parse_text_date(value: str) -> datetime | None:
    for pattern in _COMPARE_FORMATS:
        try:
            return datetime.strptime(value.strip(), pattern)
        except ValueError:
            continue
    return None


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _safe_compare(left: Any, right: Any, symbol: str) -> bool:
    compare = _COMPARE[symbol]
    if isinstance(left, datetime) or isinstance(right, datetime):
        left, right = _parse_date(left), _parse_date(right)
        return left is not None and right is not None and compare(left, right)
    left, right = "" if left is None else str(left), "" if right is None else str(right)
    numbers = _as_float(left), _as_float(right)
    if numbers[0] is not None and numbers[1] is not None:
        return compare(numbers[0], numbers[1])
    return compare(left, right)


def _compiled_value(text: str, names: tuple[str, ...]) -> Evaluator:
    """A THEN or ELSE value; a literal or number that no input is named after is constant."""
    text = text.strip()
    if text not in names and not _DATEADD.match(text):
        quoted = _QUOTED.match(text)
        if quoted:
            literal = quoted.group(2)
            return lambda context: literal
        if _NUMBER.match(text):
            number = float(text) if "." in text else int(text)
            return lambda context: number
    return functools.partial(_value, text)


def _value(text: str, context: Context) -> Any:
    match = _DATEADD.match(text)
    if match:
        return _dateadd(match.group(1), context)
    if text in context:
        return context[text]
    quoted = _QUOTED.match(text)
    if quoted:
        return quoted.group(2)
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return _arithmetic(text, context)


def _dateadd(arguments: str, context: Context) -> str | None:
    parts = [part.strip() for part in arguments.split(",", 2)]
    if len(parts) != 3 or _unquote(parts[0]).lower() != "day":
        return None
    amount_text, date_text = parts[1], parts[2]
    if amount_text and all(c.isdigit() or c in "-." for c in amount_text):
        amount = int(float(amount_text))
    elif amount_text in context:
        raw = context[amount_text]
        amount = 0 if raw is None or not str(raw).strip() else int(float(raw))
    else:
        return None
    dated = _DATE_CALL.match(date_text)
    if dated:
        inner = dated.group(1).strip()
        quoted = _QUOTED.match(inner)
        raw_date = quoted.group(2) if quoted else context.get(inner)
    else:
        raw_date = context.get(date_text)
    start = _parse_date(raw_date)
    return None if start is None else (start + timedelta(days=amount)).strftime("%Y-%m-%d")


def _arithmetic(text: str, context: Context) -> Any:
    for name in _identifiers(text):
        value = context.get(name)
        if value is None or str(value).strip() == "":
            return None
    tree, renamed = _prepared(text, tuple(context))
    bound = {safe: _as_float(context[key]) or 0.0 for key, safe in renamed}
    return _walk(tree, bound)


@functools.lru_cache(maxsize=4096)
def _identifiers(text: str) -> tuple[str, ...]:
    if not _ARITHMETIC_CHARS.match(text):
        raise ExpressionError(f"character not allowed in {text!r}")
    return tuple(_IDENTIFIER.findall(text))


@functools.lru_cache(maxsize=4096)
def _prepared(text: str, keys: tuple[str, ...]) -> tuple[ast.AST, tuple[tuple[str, str], ...]]:
    """The text parsed once for the names present: each key written in it (checked in
    order, on the text as the keys before it left it) renamed to a Python name."""
    renamed: dict[str, str] = {}
    for key in keys:
        if key in text:
            safe = re.sub(r"[^A-Za-z0-9]", "_", key)
            text = text.replace(key, safe)
            renamed[safe] = key
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"arithmetic does not parse: {error.msg}") from None
    return tree, tuple((key, safe) for safe, key in renamed.items())


def _walk(node: ast.AST, bound: dict[str, float]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in bound:
            raise ExpressionError(f"unknown name {node.id!r}")
        return bound[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_walk(node.left, bound), _walk(node.right, bound))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand, bound))
    raise ExpressionError(f"unsupported arithmetic: {ast.dump(node)[:60]}")

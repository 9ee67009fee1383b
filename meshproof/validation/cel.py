"""The CRDs' ``x-kubernetes-validations`` rules, evaluated with cel-python as an API server does.

A rule is a CEL expression over ``self`` (the value at the rule's place in
the object); it holds when it evaluates to true.  A rule that evaluates to an
error (``int("http")``) refuses the object too, as the API server's does.
Transition rules (``oldSelf``) need the stored object and are not evaluated:
none of Istio's CRDs has one (tests/test_validation.py checks).
"""
from __future__ import annotations

import functools
from typing import Any, Iterator

import celpy
from jsonschema import ValidationError

_ENV = celpy.Environment()


@functools.lru_cache(maxsize=None)
def _program(rule: str) -> celpy.Runner:
    return _ENV.program(_ENV.compile(rule))


def failures(rules: list[dict[str, Any]], value: Any) -> Iterator[str]:
    """The message of every rule of ``rules`` that ``value`` breaks (``rule``, ``message`` keys as in a CRD)."""
    activation = {"self": celpy.json_to_cel(value)}
    for rule in rules:
        text = rule["rule"]
        message = rule.get("message") or f"failed rule: {text}"
        try:
            result = _program(text).evaluate(activation)
        except (celpy.CELParseError, celpy.CELEvalError):
            result = None
        if isinstance(result, celpy.CELEvalError) or result is None:
            yield f"{message} (the rule failed to evaluate)"
        elif result is not True and result != celpy.celtypes.BoolType(True):
            yield message


def keyword(validator: Any, rules: list[dict[str, Any]], instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """A jsonschema keyword for ``x-kubernetes-validations``, so errors carry the field path."""
    for message in failures(rules, instance):
        yield ValidationError(message)

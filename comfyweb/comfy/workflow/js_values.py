"""Values as the front end's JavaScript holds them: the conversion must give what the page computes.

Python and JavaScript disagree on rounding, on how a number becomes text and on what is true; each helper
does one JavaScript operation the front end's code relies on.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

JS_MAX_SAFE_INTEGER = 2**53


def js_number(value: Any) -> Any:
    """A JSON number as JavaScript holds it: integers beyond 2**53 lose their last digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_MAX_SAFE_INTEGER:
        return int(float(value))
    return value


def js_round(value: float) -> float:
    """Math.round: halves go up (towards +infinity)."""
    return math.floor(value + 0.5)


def js_to_fixed(value: float, digits: int) -> float:
    """Number(value.toFixed(digits)): the exact binary value rounded half away from zero."""
    if not math.isfinite(value):
        return value
    quantum = Decimal(1).scaleb(-digits)
    return float(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def js_string(value: Any) -> str:
    """String(value) as a textarea keeps it (null → "", line breaks normalised to \\n)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        text = str(int(value))
    elif isinstance(value, (dict, list)):
        text = "[object Object]" if isinstance(value, dict) else ",".join(js_string(v) for v in value)
    else:
        text = str(value)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def js_truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or (isinstance(value, (int, float)) and value == 0))


def js_mod(a: float, b: float) -> float:
    """a % b with the sign of the dividend, as in JavaScript."""
    return math.fmod(a, b) if b else math.nan


def js_equal_types(a: Any, b: Any) -> bool:
    """LiteGraph.isValidConnection: "*" and "" match anything; lists "A,B" match any member; case-insensitive."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(js_equal_types(x, y) for x in a.split(",") for y in b.split(","))


def js_json_value(value: Any) -> Any:
    """`value` as JSON.stringify writes it, read back: integral numbers are integers (`1`, never `1.0`), those
    beyond 2**53 in the digits JavaScript prints (1152921504606846977 → 1152921504606847000), non-finite ones
    null; everywhere inside lists and objects too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _js_integer(float(value)) if abs(value) > JS_MAX_SAFE_INTEGER else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return _js_integer(value) if value.is_integer() else value
    if isinstance(value, list):
        return [js_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: js_json_value(item) for key, item in value.items()}
    return value


def _js_integer(value: float) -> int | float:
    """An integral double as Number.prototype.toString writes it: the shortest digits that read back as
    the same double, then zeros (up to 1e21, past which it is written with an exponent)."""
    if abs(value) >= 1e21:
        return value
    return int(Decimal(repr(value)))


def js_object_order(obj: dict) -> dict:
    """`obj` with its keys in the order a JavaScript object keeps them: integer-like keys ("array indices")
    first, ascending, then the others in the order they were added."""
    indices = sorted((key for key in obj if _is_array_index(key)), key=int)
    index_set = set(indices)
    return {key: obj[key] for key in [*indices, *(key for key in obj if key not in index_set)]}


def _is_array_index(key: object) -> bool:
    return isinstance(key, str) and key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < 2**32 - 1


def as_int_if_integral(value: float) -> float | int:
    """A float that JavaScript would print as an integer, as a Python int."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 1e21 else value

"""The front end's dynamic prompts: text widgets marked `dynamicPrompts` lose their C-style comments and
resolve `{a|b|{c|d}}` choices when the page queues (the choice comes from a random source)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

RandomSource = Callable[[], float]

COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")


def process_dynamic_prompt(text: str, random: RandomSource) -> str:
    """The front end's processDynamicPrompt: strip C-style comments, resolve {a|b|{c|d}} choices."""
    text = COMMENTS.sub("", text)
    return _resolve_choices(text, random)


def _resolve_choices(text: str, random: RandomSource) -> str:
    i = 0
    result = []
    while i < len(text):
        char = text[i]
        i += 1
        if char == "\\":
            result.append("\\" + (text[i] if i < len(text) else "undefined"))
            i += 1
        elif char == "{":
            options, choice, depth = [], "", 0
            while i < len(text):
                char = text[i]
                i += 1
                if char == "\\":
                    choice += "\\" + (text[i] if i < len(text) else "undefined")
                    i += 1
                    continue
                if char == "{":
                    depth += 1
                elif char == "}":
                    if not depth:
                        break
                    depth -= 1
                elif char == "|" and not depth:
                    options.append(choice)
                    choice = ""
                    continue
                choice += char
            options.append(choice)
            picked = options[math.floor(random() * len(options))]
            result.append(process_dynamic_prompt(picked, random))
        else:
            result.append(char)
    return re.sub(r"\\([{}|])", r"\1", "".join(result))

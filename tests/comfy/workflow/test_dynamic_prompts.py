"""Text widgets marked `dynamicPrompts`: comments go, {a|b} choices are resolved by the random source."""

from __future__ import annotations

from comfyweb.comfy.workflow.dynamic_prompts import process_dynamic_prompt


def test_dynamic_prompts_lose_comments_and_take_a_choice():
    text = "a {red|{dark|light} blue} car // a comment\n/* gone */in \\{braces\\}"
    assert process_dynamic_prompt(text, lambda: 0.0) == "a red car \nin {braces}"
    assert process_dynamic_prompt(text, lambda: 0.99) == "a light blue car \nin {braces}"
    assert process_dynamic_prompt("see http://example.com", lambda: 0.0) == "see http:"

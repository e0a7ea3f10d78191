"""Visitor texts per language: templates (and campaigns) keep their texts in the default content language
(CONTENT_LANGUAGE, zh-hans) and the other languages of settings.LANGUAGES in one JSON field, `translations`.

    {"en": {"title": "…", "description": "…",
            "params": {"10.image": {"title": "…", "description": "…", "labels": ["…", …]},
                       "group:1": {"title": "…"}}}}

Panels are keyed by their field name ("<node id>.<input key>", as in forms and the REST API); groups,
which have none, by "group:<n>" (the n-th group of `params`, counting from 1). Anything missing or
empty falls back to the default language's text, so a half-translated template still reads well.

`TranslationsField` edits the field side by side (the default text beside one entry per language, drawn by
the template catalog/widgets/translations.html); a ModelForm gets it, with the rows of its instance's
texts, from `TranslationsFormMixin`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.forms import option_label
from comfyweb.catalog.params import field_name

PANEL_TEXTS = ("title", "description", "placeholder")
GROUP_PREFIX = "group:"


def content_language() -> str:
    """The language of the plain fields (title, description, params texts)."""
    return settings.CONTENT_LANGUAGE.lower()


def translation_languages() -> list[tuple[str, str]]:
    """The languages an operator may translate into: every site language but the content language."""
    return [(code.lower(), name) for code, name in settings.LANGUAGES if code.lower() != content_language()]


def _candidates(language: str | None) -> list[str]:
    """`en-gb` reads `en-gb`, then `en`."""
    language = (language or "").lower()
    if not language:
        return []
    generic = language.split("-")[0]
    return [language] if generic == language else [language, generic]


def texts_for(translations: object, language: str | None = None) -> dict:
    """The translated texts of one language (the visitor's by default); {} for the content language."""
    language = get_language() if language is None else language
    if not isinstance(translations, dict):
        return {}
    for code in _candidates(language):
        if code == content_language():
            return {}
        found = translations.get(code)
        if isinstance(found, dict):
            return found
    return {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def localized_text(obj, name: str, language: str | None = None) -> str:
    """`obj.<name>` in the visitor's language, else the default text."""
    translated = _text(texts_for(getattr(obj, "translations", None), language).get(name))
    return translated or getattr(obj, name, "") or ""


def iter_groups(params: list) -> Iterator[tuple[str, dict]]:
    """("group:<n>", panel) for every group of `params`, nested ones included, in display order."""
    count = 0

    def walk(panels):
        nonlocal count
        for panel in panels if isinstance(panels, list) else []:
            if isinstance(panel, dict) and panel.get("type") == "group":
                count += 1
                yield f"{GROUP_PREFIX}{count}", panel
                yield from walk(panel.get("children"))

    yield from walk(params)


def localized_params(params: list, translations: object, language: str | None = None) -> list:
    """A copy of `params` whose titles, descriptions and option labels are in the visitor's language.

    Only texts change: ids, keys, types and option values stay, so the form still maps onto the prompt.
    """
    texts = texts_for(translations, language).get("params")
    if not isinstance(texts, dict) or not texts or not isinstance(params, list):
        return params
    params = copy.deepcopy(params)
    group_keys = {id(panel): key for key, panel in iter_groups(params)}

    def apply(panels):
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict):
                continue
            is_group = panel.get("type") == "group"
            entry = texts.get(group_keys.get(id(panel)) if is_group else field_name(panel))
            if isinstance(entry, dict):
                for key in PANEL_TEXTS:
                    if _text(entry.get(key)):
                        panel[key] = entry[key].strip()
                labels = entry.get("labels")
                options = panel.get("options")
                if isinstance(labels, list) and isinstance(options, list) and len(labels) == len(options):
                    defaults = option_labels(panel)
                    panel["labels"] = [_text(new) or old for new, old in zip(labels, defaults, strict=True)]
            if is_group:
                apply(panel.get("children"))

    apply(params)
    return params


def option_labels(panel: dict) -> list[str]:
    """The default-language label of each option of a select or gallery panel."""
    options = panel.get("options") if isinstance(panel.get("options"), list) else []
    labels = panel.get("labels")
    if isinstance(labels, list) and len(labels) == len(options):
        return [str(label) for label in labels]
    if panel.get("type") == "image":
        return [option_label(str(option)) for option in options]
    return [str(option) for option in options]


class Localized:
    """`obj.i18n.title`: an object's texts in the visitor's language (templates read it like the object)."""

    def __init__(self, obj, names: tuple[str, ...]) -> None:
        self._obj, self._names = obj, names

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        return localized_text(self._obj, name)

    @property
    def params(self) -> list:
        return localized_params(getattr(self._obj, "params", []), getattr(self._obj, "translations", None))


def validate_translations(value: object) -> list[str]:
    """Shape problems of a `translations` value (texts must be texts); [] when it can be saved."""
    if value in (None, ""):
        return []
    if not isinstance(value, dict):
        return [str(_("Translations must be a JSON object keyed by language code (e.g. “en”)."))]
    problems = []
    for language, texts in value.items():
        if not isinstance(texts, dict):
            problems.append(str(_("%(lang)s: the texts must be a JSON object.") % {"lang": language}))
            continue
        for key, text in texts.items():
            if key == "params":
                problems.extend(_param_problems(language, text))
            elif not isinstance(text, str):
                problems.append(str(_("%(lang)s: %(key)s must be text.") % {"lang": language, "key": key}))
    return problems


def _param_problems(language: str, params: object) -> list[str]:
    if not isinstance(params, dict):
        return [str(_("%(lang)s: params must be a JSON object keyed by field name.") % {"lang": language})]
    problems = []
    for name, entry in params.items():
        where = f"{language}: {name}"
        if not isinstance(entry, dict):
            problems.append(str(_("%(where)s must be a JSON object.") % {"where": where}))
            continue
        for key in PANEL_TEXTS:
            if key in entry and not isinstance(entry[key], str):
                problems.append(str(_("%(where)s: %(key)s must be text.") % {"where": where, "key": key}))
        labels = entry.get("labels")
        if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            problems.append(str(_("%(where)s: labels must be a list of texts.") % {"where": where}))
    return problems


# ---- editing side by side -------------------------------------------------------------------------


@dataclass(frozen=True)
class TextRow:
    """One translatable text: where it goes in `translations[lang]` and its default-language text."""

    path: tuple  # e.g. ("title",), ("params", "10.image", "description"), ("params", "11.image", "labels", 2)
    label: str
    default: str


def object_rows(obj, names: tuple[str, ...]) -> list[TextRow]:
    """The rows of an object's plain texts (title, description…), labelled with the model's field names."""
    rows = []
    for name in names:
        try:
            label = str(obj._meta.get_field(name).verbose_name)
        except Exception:
            label = name
        rows.append(TextRow((name,), label.capitalize(), str(getattr(obj, name, "") or "")))
    return rows


def params_rows(params: list) -> list[TextRow]:
    """A row for every text of `params` a visitor reads: group and panel titles, descriptions, option labels."""
    rows: list[TextRow] = []
    group_keys = {id(panel): key for key, panel in iter_groups(params)}

    def walk(panels):
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict) or panel.get("hidden"):
                continue
            is_group = panel.get("type") == "group"
            key = group_keys.get(id(panel)) if is_group else field_name(panel)
            title = str(panel.get("title") or "")
            for text in PANEL_TEXTS:
                if is_group and text == "description" and not panel.get("description"):
                    continue
                if text == "placeholder" and not panel.get("placeholder"):
                    continue
                rows.append(TextRow(("params", key, text), f"{title or key} · {text}", str(panel.get(text) or "")))
            if not is_group and panel.get("type") in ("select", "image") and isinstance(panel.get("options"), list):
                for index, label in enumerate(option_labels(panel)):
                    rows.append(TextRow(("params", key, "labels", index), f"{title or key} · {label}", label))
            if is_group:
                walk(panel.get("children"))

    walk(params)
    return rows


_OWN = (("title", _("title")), ("description", _("description")))
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LETTERS = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class TranslationGap:
    """Visitor texts of one language that show another language's words (missing or mistyped texts)."""

    language: str  # the name of the visitors' language
    missing: list[str]  # labels of texts with no translation: these visitors read the default text
    foreign: list[str]  # default texts that look typed in another language than the default one


def translation_gaps(obj, params: list, translations: object) -> list[TranslationGap]:
    """What visitors of each language would read in another language: titles and help texts typed in the
    default language with no translation, and default texts that look typed in another language."""
    own = [TextRow((name,), str(label).capitalize(), str(getattr(obj, name, "") or "")) for name, label in _OWN]
    rows = [row for row in own + params_rows(params) if row.default.strip()]
    rows = [row for row in rows if row.path[-1] in PANEL_TEXTS]
    default_is_chinese = content_language().startswith("zh")
    foreign = [
        f"{row.label}: “{row.default}”"
        for row in rows
        if default_is_chinese and not CJK.search(row.default) and LETTERS.search(row.default)
    ]
    gaps = []
    if foreign:
        name = dict(settings.LANGUAGES).get(content_language(), content_language())
        gaps.append(TranslationGap(name, [], foreign))
    for code, name in translation_languages():
        texts = texts_for(translations, code)
        missing = [row.label for row in rows if not _text(_get(texts, row.path))]
        if missing:
            gaps.append(TranslationGap(name, missing, []))
    return gaps


def _get(texts: dict, path: tuple) -> str:
    node: object = texts
    for step in path:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, str) else ""


def _set(texts: dict, path: tuple, value: str, row_count_of: dict) -> None:
    node = texts
    for index, step in enumerate(path[:-1]):
        following = path[index + 1]
        if isinstance(following, int):
            node = node.setdefault(step, [""] * row_count_of.get(path[:-1], following + 1))
        else:
            node = node.setdefault(step, {})
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append("")
        node[last] = value
    else:
        node[last] = value


def _prune(value):
    """Drop empty texts and empty objects; a labels list stays whole while one label is set."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", {}, [], None)}
    if isinstance(value, list):
        return value if any(_text(x) for x in value) else []
    return value.strip() if isinstance(value, str) else value


class TranslationsWidget(forms.Widget):
    """The default-language text of each row beside one text box per translation language."""

    template_name = "catalog/widgets/translations.html"

    class Media:
        css = {"all": ["css/translations.css"]}

    def __init__(self, attrs=None, rows: list[TextRow] | None = None) -> None:
        super().__init__(attrs)
        self.rows: list[TextRow] = list(rows or [])

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value or "{}")
            except json.JSONDecodeError:
                value = {}
        return value if isinstance(value, dict) else {}

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        value = self.format_value(value)
        languages = translation_languages()
        rows = self.rows or [TextRow(path, " · ".join(map(str, path)), "") for path in _paths_in(value)]
        context["widget"].update(
            content_language=content_language(),
            content_language_name=dict(settings.LANGUAGES).get(content_language(), content_language()),
            languages=[label for _code, label in languages],
            rows=[
                {
                    "label": row.label,
                    "default": row.default,
                    "boxes": [
                        {
                            "name": _input_name(name, code, row.path),
                            "lang": code,
                            "label": f"{row.label} ({label})",
                            "lines": 3 if len(row.default) > 60 else 1,
                            "text": _get(value.get(code) or {}, row.path),
                        }
                        for code, label in languages
                    ],
                }
                for row in rows
            ],
            kept=json.dumps(value, ensure_ascii=False),
        )
        return context

    def value_from_datadict(self, data, files, name):
        """The kept JSON with every submitted row applied (an emptied box removes that text)."""
        try:
            value = json.loads(data.get(name) or "{}")
        except json.JSONDecodeError:
            value = {}
        value = value if isinstance(value, dict) else {}
        paths = {row.path for row in self.rows} | set(_paths_in(value))
        counts = _label_counts(self.rows)
        for code, _label in translation_languages():
            texts = value.get(code) if isinstance(value.get(code), dict) else {}
            for path in paths:
                submitted = data.get(_input_name(name, code, path))
                if submitted is not None:
                    _set(texts, path, submitted, counts)
            value[code] = texts
        return json.dumps(_prune(value), ensure_ascii=False)

    def value_omitted_from_data(self, data, files, name):
        return name not in data


def _input_name(name: str, language: str, path: tuple) -> str:
    return ".".join([name, language, *map(str, path)])


def _label_counts(rows: list[TextRow]) -> dict:
    counts: dict = {}
    for row in rows:
        if isinstance(row.path[-1], int):
            counts[row.path[:-1]] = max(counts.get(row.path[:-1], 0), row.path[-1] + 1)
    return counts


def _paths_in(value: dict) -> list[tuple]:
    """The text paths already present in a translations value (rows when no source is known)."""
    paths: list[tuple] = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*prefix, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, (*prefix, index))
        elif isinstance(node, str) and prefix:
            paths.append(prefix)

    for texts in value.values() if isinstance(value, dict) else []:
        walk(texts, ())
    return list(dict.fromkeys(paths))


class TranslationsField(forms.JSONField):
    """A `translations` JSON edited side by side: one row per visitor text (`rows`), checked for shape."""

    widget = TranslationsWidget

    def __init__(self, *, rows: list[TextRow] | None = None, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.rows = rows or []

    @property
    def rows(self) -> list[TextRow]:
        return self.widget.rows

    @rows.setter
    def rows(self, rows: list[TextRow]) -> None:
        self.widget.rows = list(rows)

    def posted_value(self, data, name: str) -> dict:
        """The translations a form posted under `name` (every row applied), {} when they do not read."""
        try:
            value = json.loads(self.widget.value_from_datadict(data, {}, name))
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def validate(self, value):
        super().validate(value)
        problems = validate_translations(value)
        if problems:
            raise ValidationError(problems)


class TranslationsFormMixin:
    """For a ModelForm with a `translations` field: one row per text of the instance, side by side.

    `translated_fields` names the plain text fields; a `params` JSON on the instance adds its texts.
    """

    translated_fields: tuple[str, ...] = ("title", "description")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "translations" not in self.fields:
            return
        old = self.fields["translations"]
        instance = self.instance
        rows = object_rows(instance, self.translated_fields)
        rows += params_rows(getattr(instance, "params", None) or [])
        field = self.fields["translations"] = TranslationsField(
            rows=rows, label=old.label, initial=old.initial, help_text=old.help_text
        )
        field.help_text = _(
            "Leave a box empty to show the %(language)s text. Save the params first to translate new fields."
        ) % {"language": dict(settings.LANGUAGES).get(content_language(), content_language())}

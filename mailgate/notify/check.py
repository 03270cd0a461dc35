"""`mailgate templates check`: render every event in every language with
sample data, under StrictUndefined, and say what is wrong as "file:line:
problem" (syntax errors, undefined variables, missing parts and missing
translations)."""

from __future__ import annotations

from mailgate.notify.kinds import KINDS, sample_context
from mailgate.notify.render import PARTS, Templates, language_chain
from mailgate.notify.sender import describe_template_error


def check_templates(templates: Templates) -> list[str]:
    problems: list[str] = []
    languages = dict.fromkeys((templates.default_language, *templates.languages()))
    for language in languages:
        for kind in KINDS:
            for part in PARTS:
                problem = _check_one(templates, language, kind, part)
                if problem and problem not in problems:
                    problems.append(problem)
    return problems


def _check_one(templates: Templates, language: str, kind: str, part: str) -> str | None:
    name = f"{kind}.{part}"
    if templates.own_file(language, name) is None:
        found = templates.source_of(language, name)
        if found is None:
            return f"{language}/{name}: missing part: no language of {' -> '.join(language_chain(language, templates.default_language))} has it"
        return (f"{language}/{name}: missing translation (mail in {language} would use "
                f"{found.parent.name}/{name})")
    try:
        templates.template(language, kind, part).render(
            dict(sample_context(kind, language), _locale=language, _zone=None))
    except Exception as exc:          # noqa: BLE001 - a syntax error, or a filter given the wrong value
        return describe_template_error(exc)
    return None

"""Settings read from ``QA_*`` environment variables, and what is wrong with them said in the variables' names.

pydantic reports a bad value by its field path (``worker.max_attempts``) inside a 50-line traceback, and a
list that is not JSON as ``error parsing value for field "pii"``; an operator wrote ``QA_WORKER__MAX_ATTEMPTS``
or ``QA_PII__KINDS``. :func:`load` builds the settings and turns either failure into
:class:`SettingsInvalid`: one line a problem, naming the variable as it was written. It also returns
warnings: ``QA_*`` variables that match no setting (a typo is otherwise silently ignored) and settings that
work against each other.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

PREFIX = "QA_"
DELIMITER = "__"
# QA_* variables read by something other than Settings: the import commands' key, qa serve handing its
# settings to its API processes, and the test suite's.
NOT_SETTINGS = frozenset({"QA_API_KEY", "QA__SERVE_SETTINGS", "QA_SCREENSHOT_DIR", "QA_REQUIRE_BROWSER",
                          "QA_CHROMIUM"})
NOT_SETTINGS_PREFIXES = ("QA_TEST_",)


class SettingsInvalid(ValueError):
    """``QA_*`` variables whose values the settings cannot take: ``problems`` holds one line each (the ``qa``
    command prints them and exits 2). Not a ``ConfigError``: this module sits below ``qa_service.errors``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def load(settings_cls: type[BaseModel], environ: Mapping[str, str] | None = None):
    """``(settings_cls(), warnings)``; raises :class:`SettingsInvalid` naming each bad variable."""
    env = dict(os.environ if environ is None else environ)
    try:
        settings = settings_cls()
    except ValidationError as exc:
        raise SettingsInvalid([_validation_line(err, env) for err in exc.errors()]) from None
    except SettingsError as exc:
        raise SettingsInvalid(_not_json_lines(settings_cls, exc, env)) from None
    return settings, unknown_variables(settings_cls, env)


def _written(env: Mapping[str, str], name: str) -> str | None:
    """The variable as it was written (names are matched ignoring case, as the settings read them)."""
    return next((key for key in env if key.upper() == name.upper()), None)


def _validation_line(err: dict, env: Mapping[str, str]) -> str:
    loc = [str(part) for part in err["loc"]]
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error" and msg.startswith(PREFIX):  # a check that names its variables itself
        return msg
    for n in range(len(loc), 0, -1):  # the variable that set this value, or the JSON one that holds it
        name = _written(env, PREFIX + DELIMITER.join(loc[:n]))
        if name:
            break
    else:
        name, n = PREFIX + DELIMITER.join(loc).upper(), len(loc)
    inner = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"][n:]).lstrip(".")
    text = msg[:1].lower() + msg[1:]
    text = re.sub(r", unable to (parse|interpret) .*$", "", text)
    if err["type"] != "value_error" and isinstance(err.get("input"), (str, int, float)):
        text += f", got {err['input']!r}"
    return f"{name}: {inner + ': ' if inner else ''}{text}"


def _not_json_lines(settings_cls: type[BaseModel], exc: SettingsError, env: Mapping[str, str]) -> list[str]:
    """A list or mapping given as something JSON does not read: which variable, and how to write it."""
    field = re.search(r'field "(\w+)"', str(exc))
    lines = []
    for key, value in env.items():
        up = key.upper()
        if field and not up.startswith(PREFIX + field.group(1).upper()):
            continue
        target = resolve(settings_cls, up)
        if target is None or target is True or not is_complex(target):
            continue
        try:
            json.loads(value)
        except ValueError as err:
            lines.append(f"{key}: {value!r} is not JSON ({err.args[0] if err.args else err}); lists and mappings "
                         "are written as JSON, e.g. '[\"mobile\", \"email\"]' or '{\"crm\": {\"redact\": false}}'")
    return lines or [f"{PREFIX}{field.group(1).upper() if field else ''}: {exc}"]


def _unwrap(annotation):
    """``X`` of ``X | None`` / ``Optional[X]``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def is_complex(annotation) -> bool:
    """A value pydantic-settings reads as JSON: a list, mapping, set or a nested model."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (list, dict, set, tuple, frozenset):
        return True
    return isinstance(annotation, type) and issubclass(annotation, (BaseModel, list, dict, set, tuple))


def resolve(settings_cls: type[BaseModel], name: str):
    """The annotation of the setting ``name`` (``QA_WORKER__MAX_ATTEMPTS``) sets; ``True`` for a name below a
    mapping (``QA_PII__SOURCES__CRM__REDACT``); None for a name that matches no setting."""
    parts = name[len(PREFIX):].lower().split(DELIMITER)
    model: type[BaseModel] | None = settings_cls
    annotation = None
    for i, part in enumerate(parts):
        if model is None:
            return True if typing.get_origin(annotation) is dict else None
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = _unwrap(field.annotation)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return annotation


def unknown_variables(settings_cls: type[BaseModel], env: Mapping[str, str]) -> list[str]:
    """A warning for each ``QA_*`` variable that sets nothing (``QA_REDIS__QEUE``, ``QA_DB_URL``)."""
    lines = []
    for key in sorted(env):
        up = key.upper()
        if not up.startswith(PREFIX) or up in NOT_SETTINGS or up.startswith(NOT_SETTINGS_PREFIXES):
            continue
        if resolve(settings_cls, up) is None:
            lines.append(f"{key} matches no setting and is ignored (mistyped? groups are joined with "
                         f"'{DELIMITER}', e.g. QA_DB__URL; docs/configuration.md lists them)")
    return lines

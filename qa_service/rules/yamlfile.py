"""Reading the YAML files of the rules folder (packs, appraisal schemes, alerts): duplicate keys refused, and
punctuation typed by a Chinese input method (``：`` ``［`` U+3000 …) named with its line when it breaks a file.

YAML reads only ASCII punctuation as structure: ``points：-20`` is one plain word, ``phrases: ［a, b］`` one
string, and a line indented with U+3000 (全角空格) is not indented at all. The parser's own message then names
the line after, or a type (``Input should be a valid list``); the hints here name the character and its line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from pathlib import Path

import yaml

from qa_service.errors import RuleError

#: Full-width characters that look like YAML's structure, and the ASCII one YAML reads.
FULL_WIDTH = {"：": ":", "［": "[", "］": "]", "｛": "{", "｝": "}", "\u3000": "space"}
#: In a value the schema refused, a full-width comma is news too (``phrases: 保证，百分百`` is one string);
#: on a line YAML could not read it is most often a message's own punctuation.
IN_VALUE = FULL_WIDTH | {"，": ","}
IDEOGRAPHIC_SPACE = "\u3000"
LEADING = " \t" + IDEOGRAPHIC_SPACE


def display_path(path: Path) -> str:
    """``rules/finance.yaml`` style: the directory name and the file."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def named(ch: str) -> str:
    """``'：' (U+FF1A FULLWIDTH COLON)``."""
    return f"'{ch}' (U+{ord(ch):04X} {unicodedata.name(ch, '?')})"


def line_hint(text: str, n: int, chars: dict[str, str] = FULL_WIDTH) -> str | None:
    """What full-width structure (``chars``) line ``n`` (1-based) of ``text`` holds, if any."""
    lines = text.splitlines()
    if not 1 <= n <= len(lines):
        return None
    found = [ch for ch in dict.fromkeys(lines[n - 1]) if ch in chars]
    if not found:
        return None
    ascii_ = " ".join(f"'{chars[ch]}'" if len(chars[ch]) == 1 else f"ASCII {chars[ch]}" for ch in found)
    return (f"line {n} holds {', '.join(named(ch) for ch in found)}, typed by a Chinese input method: YAML reads "
            f"only {ascii_} — retype {'it' if len(found) == 1 else 'them'} in ASCII (switch the input method to "
            "English punctuation)")


def indent_hint(text: str) -> str | None:
    """The lines indented with U+3000 (an invisible full-width space), if any."""
    lines = [n for n, line in enumerate(text.splitlines(), 1)
             if IDEOGRAPHIC_SPACE in line[:len(line) - len(line.lstrip(LEADING))]]
    if not lines:
        return None
    shown = ", ".join(str(n) for n in lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    return (f"line{'s' if len(lines) > 1 else ''} {shown} {'are' if len(lines) > 1 else 'is'} indented with "
            f"{named(IDEOGRAPHIC_SPACE)}, 全角空格, which YAML does not read as a space — indent with ASCII spaces")


def yaml_hints(text: str, lines: Collection[int]) -> list[str]:
    """Hints for a YAML error at ``lines`` (1-based): the full-width punctuation they hold, and every line
    indented with U+3000 (the parser names the line after one, where the indentation stops making sense)."""
    hints = [h for n in sorted(set(lines)) if (h := line_hint(text, n))]
    indent = indent_hint(text)
    return hints + ([indent] if indent and not any(IDEOGRAPHIC_SPACE in h for h in hints) else [])


def value_hint(text: str, value: object) -> str | None:
    """For a value the schema refused (``phrases: ［a, b］`` read as a string): the full-width punctuation it
    holds, and the line of the file where it is."""
    if not isinstance(value, str) or not any(ch in IN_VALUE for ch in value):
        return None
    ch = next(ch for ch in value if ch in IN_VALUE)
    at = text.find(value)
    if at >= 0:
        at += value.index(ch)
    else:  # a value YAML folded over two lines is found by its start
        head = value[:value.index(ch) + 1]
        at = text.find(head)
        at = at + len(head) - 1 if at >= 0 else text.find(ch)
    return line_hint(text, text.count("\n", 0, at) + 1, IN_VALUE) if at >= 0 else None


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping names the same key twice (YAML would keep the last one, silently)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping: a second ``rules:`` would drop
    every rule of the first, a second ``points:`` would win unseen."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    line = first.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if line != key_node.start_mark.line + 1:
                    raise DuplicateKey(None, None, f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                                                   f"(first at line {line})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str | bytes, where: str, code: str) -> tuple[object, RuleError | None]:
    """The YAML document, or the coded error (a duplicate key is one, named with its lines; full-width
    punctuation on the lines the error names, or indentation with U+3000 anywhere, is named in its fix)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader), None  # noqa: S506 (a SafeLoader)
    except DuplicateKey as exc:
        return None, RuleError(code, where, exc.problem, "keep one of them (YAML would silently keep the last)")
    except yaml.YAMLError as exc:
        decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        marks = [getattr(exc, name, None) for name in ("context_mark", "problem_mark")]
        hints = yaml_hints(decoded, [m.line + 1 for m in marks if m is not None])
        return None, RuleError(code, where, f"not valid YAML: {exc}".replace("\n", " "),
                               "; ".join(hints) if hints else "fix the YAML syntax (indentation, quotes, colons)")


def read_yaml_mapping(path: Path, code: str, shape: str, fix: str) -> tuple[bytes, dict | None, RuleError | None]:
    """A YAML file's bytes and its top-level mapping, or the coded error saying why it is not one."""
    where = display_path(path)
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # GBK from a Chinese Windows editor, most likely
        return data, None, RuleError(code, where, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at byte {exc.start + 1})",
                                     "save the file as UTF-8 (in Notepad: 另存为 → 编码 UTF-8)")
    raw, error = parse_yaml(data, where, code)
    if error:
        return data, None, error
    if not isinstance(raw, dict):
        return data, None, RuleError(code, where, shape, fix)
    return data, raw, None


def misnamed_yaml(directory: Path, code: str, what: str) -> list[RuleError]:
    """``*.yml`` files in a folder whose files are read as ``*.yaml``: said, not silently left out."""
    return [RuleError(code, display_path(p), f"is not read: {what} are *.yaml files", f"rename it {p.stem}.yaml")
            for p in sorted(Path(directory).glob("*.yml"))]

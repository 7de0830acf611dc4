"""Every string a staff member or a seller reads has its Persian translation:
`makemessages` run on a copy of the code finds no untranslated, fuzzy or
obsolete entry in fa, and the committed django.mo is the compiled django.po.

Needs GNU gettext (xgettext, msgmerge, msgattrib, msgfmt), which `.ci/run`
installs; without it makemessages cannot run at all, and the tests are skipped
saying so."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

PO = Path("locale/fa/LC_MESSAGES/django.po")
# What the README's command ignores: neither is read by staff or sellers.
IGNORED = ("tests", "loadtests")

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("xgettext", "msgmerge", "msgattrib", "msgfmt")),
    reason="GNU gettext is not installed (apt-get install -y gettext)",
)


def _copy_of_the_code(tmp_path: Path) -> Path:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=settings.BASE_DIR, capture_output=True, check=True
    ).stdout.split(b"\0")
    copy = tmp_path / "code"
    for name in filter(None, (item.decode() for item in tracked)):
        source = settings.BASE_DIR / name
        if name.split("/")[0] in IGNORED or not source.is_file():
            continue
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy / name)
    return copy


def _makemessages(copy: Path) -> None:
    # Any DATABASE_URL keeps settings from starting the embedded server; makemessages connects to nothing.
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fa", "--no-obsolete", "--no-location"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )


def _entries(po: Path, *flags: str) -> str:
    """msgattrib's selection from `po`, without the header entry it always prints."""
    text = subprocess.run(["msgattrib", *flags, str(po)], capture_output=True, text=True, check=True).stdout
    blocks = [block for block in text.split("\n\n") if "msgid" in block]
    return "\n\n".join(block for block in blocks if '\nmsgid ""\nmsgstr ""\n"' not in "\n" + block)


def test_makemessages_leaves_no_untranslated_or_fuzzy_entry_in_persian(tmp_path):
    copy = _copy_of_the_code(tmp_path)
    _makemessages(copy)
    po = copy / PO
    untranslated = _entries(po, "--untranslated", "--no-obsolete")
    assert not untranslated, f"untranslated in {PO}:\n{untranslated[:3000]}"
    fuzzy = _entries(po, "--only-fuzzy", "--no-obsolete")
    assert not fuzzy, f"fuzzy (guessed by msgmerge) in {PO}:\n{fuzzy[:3000]}"
    # Nothing the code no longer says: the committed file is what makemessages keeps.
    assert _entries(po, "--no-fuzzy", "--sort-output") == _entries(settings.BASE_DIR / PO, "--sort-output")


def test_the_committed_mo_is_the_compiled_po(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(settings.BASE_DIR / PO)], check=True)
    assert compiled.read_bytes() == (settings.BASE_DIR / PO).with_suffix(".mo").read_bytes()

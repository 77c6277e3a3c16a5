"""zh_CN by default, English by switch; every UI string has a Chinese translation.

`test_every_message_has_a_chinese_translation` and `test_login_page_is_chinese_by_default` pass once the
zh_CN catalog is filled (`make messages`, translate app/translations/zh_Hans_CN/LC_MESSAGES/messages.po).
"""

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
#: The same keywords as PYBABEL_KEYWORDS in the Makefile.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
SKIP_DIRS = {"node_modules", "static", "build", "migrations", "tests", "instance"}


def extracted_messages() -> dict[str, str]:
    """msgid -> first place it is used, extracted as `make messages` does (babel.cfg)."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS,
            directory_filter=lambda d: Path(d).name not in SKIP_DIRS and not Path(d).name.startswith(".")):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_extraction_finds_python_and_template_messages():
    messages = extracted_messages()
    assert "Log in" in messages and messages["Log in"].startswith("templates/")
    assert messages["Unknown role."].startswith("app/accounts/services.py")


def test_every_message_has_a_chinese_translation():
    with open(CATALOG, "rb") as f:
        catalog = read_po(f, locale="zh_CN")
    missing = []
    for msgid, place in sorted(extracted_messages().items(), key=lambda kv: kv[1]):
        entry = catalog.get(msgid)
        if entry is None:
            missing.append(f"{place}: {msgid!r} is not in the catalog (run `make messages`)")
        elif entry.fuzzy:
            missing.append(f"{place}: {msgid!r} is marked fuzzy")
        elif not all(s.strip() for s in (entry.string if isinstance(entry.string, tuple) else (entry.string,))):
            missing.append(f"{place}: {msgid!r} has no translation")
    assert not missing, f"{len(missing)} messages lack a zh_CN translation:\n" + "\n".join(missing[:40])


def _assert_catalog_compiled():
    mo = CATALOG.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= CATALOG.stat().st_mtime, \
        "the zh_CN catalog is not compiled or out of date: run `make catalogs`"


def test_flask_babel_loads_the_zh_cn_catalog(app):
    # Babel reads "zh_CN" as zh_Hans_CN, so that is the directory the catalog must live in.
    from flask_babel import force_locale, get_translations

    _assert_catalog_compiled()
    with app.test_request_context("/"), force_locale("zh_CN"):
        assert str(CATALOG.with_suffix(".mo")) in getattr(get_translations(), "files", [])


def test_login_page_is_chinese_by_default(client):
    _assert_catalog_compiled()
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "登录" in page and "Log in" not in page


def test_lang_switch_turns_the_login_page_english_and_back(client):
    resp = client.post("/lang/en", data={"next": "/login"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Log in" in page and "登录" not in page

    client.post("/lang/zh_CN", data={"next": "/login"})
    assert '<html lang="zh-CN">' in client.get("/login").get_data(as_text=True)


def test_unknown_language_is_refused(client):
    assert client.post("/lang/xx").status_code == 404

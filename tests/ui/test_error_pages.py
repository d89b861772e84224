"""A /ui page's errors (TestClient): the error pages were a bare <h1> with no language, no viewport and no
stylesheet (981 px wide on a phone), and said pydantic's English under the API's field names
("transcript_id：Input should be a valid integer…", "周期：'2026-13': month 13 is not 1–12")."""

from __future__ import annotations

import pytest

from qa_service.api.ui_errors import problem_in_chinese

ENGLISH = ("Input should", "Value error", "is not a period", "is not 1–12", "List should")


@pytest.mark.parametrize("path,status,words", [
    ("/ui/transcripts/abc", 422, "会话编号（transcript_id）：应为整数"),
    ("/ui/transcripts/0", 422, "会话编号（transcript_id）：不能小于 1"),
    ("/ui/queue?limit=abc", 422, "每页条数（limit）：应为整数"),
    ("/ui/queue?limit=501", 422, "每页条数（limit）：不能大于 500"),
    ("/ui/queue?score_min=六十", 422, "最低分数（score_min）：“六十” 不是数字"),
    ("/ui/transcripts?team=%00", 422, "团队（team）：含有控制字符 U+0000"),
    ("/ui/transcripts/99999", 404, "编号 99999 不存在"),
    ("/ui/nosuch", 404, "没有这个页面"),
])
def test_an_error_page_is_a_page_of_the_site_in_chinese(client, path, status, words):
    r = client.get(path)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html"), (path, r.text)
    assert '<html lang="zh-CN">' in r.text and 'name="viewport" content="width=device-width' in r.text
    assert '<link rel="stylesheet" href="/ui/static/ui.css">' in r.text
    assert words in r.text, r.text
    assert not any(e in r.text for e in ENGLISH), r.text


@pytest.mark.parametrize("path,words", [
    ("/ui/queue?period=2026-13", "周期：“2026-13” 的月份 13 不在 1–12 之间"),
    ("/ui/?period=garbage", "周期：“garbage” 无法识别；请用 2026-10（月）"),
    ("/ui/calibration?period=2026-W60", "周期：“2026-W60” 的周数 60 不在 1–53 之间（2026 年的 ISO 周）"),
    ("/ui/queue?period=2026-02-30", "周期：“2026-02-30” 不是存在的日期"),
])
def test_a_period_the_page_cannot_read_is_said_in_chinese(client, path, words):
    page = client.get(path).text
    assert words in page, page
    assert not any(e in page for e in ENGLISH)


def test_the_api_still_answers_its_documented_english(client):
    detail = client.get("/v1/transcripts/abc").json()["detail"][0]
    assert detail["type"] == "int_parsing" and detail["msg"].startswith("Input should be a valid integer")


@pytest.mark.parametrize("error,said", [
    ({"type": "greater_than_equal", "loc": ["body", "points"], "msg": "Input should be greater than or equal to -100",
      "ctx": {"ge": -100}}, "分值：不能小于 -100"),
    ({"type": "value_error", "loc": ["body", "message"],
      "msg": "Value error, is blank (only spaces or invisible characters); write it out"}, "说明：不能为空（只有空格或不可见字符）"),
    ({"type": "value_error", "loc": ["body", "reason"], "msg": "Value error, is blank (only spaces or invisible "
      "characters); write it out"}, "申诉理由：不能为空（只有空格或不可见字符）"),
    ({"type": "too_short", "loc": ["body", "reviewers"], "msg": "List should have at least 1 item after validation, not 0",
      "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0}}, "复核员：至少填写 1 项"),
    ({"type": "string_too_long", "loc": ["body", "message"], "msg": "String should have at most 500 characters",
      "ctx": {"max_length": 500}}, "说明：最多 500 个字符"),
    ({"type": "missing", "loc": ["body", "points"], "msg": "Field required"}, "分值：必填"),
    ({"type": "value_error", "loc": ["body", "reviewers", 0], "msg": "Value error, starts or ends with a space (U+3000); "
      "remove it"}, "复核员：首尾有空格（U+3000），请去掉"),
    ({"type": "less_than_equal", "loc": ["query", "limit"], "msg": "…", "ctx": {"le": 500}}, "每页条数（limit）：不能大于 500"),
])
def test_validation_errors_are_said_by_the_forms_labels(error, said):
    assert problem_in_chinese(error) == said


def test_a_page_while_the_database_is_down_is_a_page_too(tmp_path, settings):
    """A /ui page met the API's JSON 503 ({"detail": "database unavailable; retry later"}) in the browser."""
    from fastapi.testclient import TestClient

    from qa_service.app import create_app
    from qa_service.config import DBSettings

    down = settings.model_copy(update={
        "db": DBSettings(url="postgresql+psycopg://qa:S3cretPW@127.0.0.1:18401/qa", auto_migrate=False)})
    with TestClient(create_app(down)) as c:
        page = c.get("/ui/queue")
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert '<html lang="zh-CN">' in page.text and "数据库暂不可用" in page.text
        api = c.get("/v1/reviews")
        assert api.status_code == 503 and api.json() == {"detail": "database unavailable; retry later"}


def test_calibration_with_a_period_it_cannot_read_shows_no_figures(client):
    """/ui/calibration?period=x said the error and, under it, κ and every rule's precision for all periods."""
    page = client.get("/ui/calibration", params={"period": "x"}).text
    assert '<p class="error">周期：“x” 无法识别' in page
    assert "Cohen" not in page and "条已完成复核" not in page and 'id="rules"' not in page
    good = client.get("/ui/calibration", params={"period": "2026-10"}).text
    assert "Cohen" in good and "条已完成复核" in good and 'class="error"' not in good


def test_an_unexpected_error_on_a_page_is_a_page_and_the_apis_stays_plain(settings, monkeypatch):
    """A fault nobody foresaw (injected here) answered a page with Starlette's bare "Internal Server Error"."""
    from fastapi.testclient import TestClient

    from qa_service.app import create_app
    from qa_service.storage import reviews

    def broken(**_):
        raise RuntimeError("injected")

    monkeypatch.setattr(reviews, "list_queue", broken)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        page = c.get("/ui/queue")
        assert page.status_code == 500 and '<html lang="zh-CN">' in page.text and "服务器出错了" in page.text
        assert "injected" not in page.text
        api = c.get("/v1/reviews")
        assert api.status_code == 500 and api.text == "Internal Server Error"

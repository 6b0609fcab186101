"""Secrets are masked in URLs, keyword pairs and anything the configuration declared secret."""

from __future__ import annotations

import logging

from stacktender.secrets import MASK, RedactingFilter, Redactor, mask_url, redact


def test_mask_url_keeps_user_and_host() -> None:
    assert mask_url("amqp://nova:s3cret@rabbit1:5672/") == f"amqp://nova:{MASK}@rabbit1:5672/"
    assert mask_url("http://host:15672/api") == "http://host:15672/api"
    text = "transport_url = rabbit://a:p1@h1:5672,b:p2@h2:5672//"
    assert "p1" not in mask_url(text) and "p2" not in redact(text, ["p2"])


def test_keyword_pairs_are_masked() -> None:
    assert redact("password=hunter2 user=bob") == f"password={MASK} user=bob"
    assert redact('"token": "abc123"') == f'"token": "{MASK}"'


def test_redactor_learns_from_config() -> None:
    redactor = Redactor()
    redactor.learn({"targets": {"db": {"url": "mysql://root:pa55word@db/"}, "password": "zzz9"}})
    assert redactor("connect to db failed: pa55word rejected, zzz9") == (
        f"connect to db failed: {MASK} rejected, {MASK}"
    )
    masked = redactor.masked({"password": "zzz9", "url": "mysql://root:pa55word@db/"})
    assert masked == {"password": MASK, "url": f"mysql://root:{MASK}@db/"}


def test_log_filter_masks_records(caplog: object) -> None:
    redactor = Redactor()
    redactor.learn({"password": "topsecret"})
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "login with %s", ("topsecret",), None
    )
    RedactingFilter(redactor).filter(record)
    assert record.getMessage() == f"login with {MASK}"

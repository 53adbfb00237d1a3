"""Keeps fødselsnumre out of logs and error texts.

The message layer itself never logs patient data; this is the net under it for text that comes from
elsewhere (a parser's message, an exception, another module's log call).
"""

from __future__ import annotations

import logging
import re

_ELEVEN_DIGITS = re.compile(r"(?<!\d)\d{11}(?!\d)")
MASK = "***********"


def mask(text: str) -> str:
    """Replace every run of exactly 11 digits (a fødselsnummer or D-nummer) with a mask."""
    return _ELEVEN_DIGITS.sub(MASK, text)


class PersonalDataFilter(logging.Filter):
    """Masks 11-digit numbers in a record's message, arguments and traceback.

    Attach it to every handler (a logger's filters do not see records propagated from children).
    The record is rewritten in place, so handlers after this one see the masked text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True

"""A malformed ``$filter`` gets a 400 OData error in ASP.NET Core OData's words, naming the
position and the token, over real HTTP."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "salesPrice gtt 100",
            "Syntax error at position 12 in 'salesPrice gtt 100': 'gtt' is not a valid operator.",
        ),
        (
            "salesPrice gt 100 andd name eq 'x'",
            "Syntax error at position 19 in 'salesPrice gt 100 andd name eq 'x'': "
            "'andd' is not a valid operator.",
        ),
        ("name eq", "Expression expected at position 8 in 'name eq'."),
        ("(salesPrice eq 1", "')' or operator expected at position 17 in '(salesPrice eq 1'."),
        (
            "salesPrice eq 1)",
            "Syntax error at position 16 in 'salesPrice eq 1)': ')' is not valid here.",
        ),
        (
            "salesPrice eq @",
            "Syntax error: character '@' is not valid at position 15 in 'salesPrice eq @'.",
        ),
        (
            "name eq 'x",
            "There is an unterminated string literal at position 9 in 'name eq 'x'.",
        ),
    ],
)
def test_a_syntax_error_names_the_position_and_the_token(api, text: str, message: str) -> None:
    reply = api("Features", params={"$filter": text})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"] == message
    # The position is where the named token starts (1-based), checked on the text itself.
    if "'" in message and "position" in message and "is not a valid operator" in message:
        token = message.split(": '")[1].split("'")[0]
        position = int(message.split("position ")[1].split()[0])
        assert text[position - 1 :].startswith(token)

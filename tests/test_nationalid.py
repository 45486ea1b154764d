"""National identity numbers in free text. Every number here is made up in the test from a date and
an individual number, with control digits computed by the weights of the definition written out
again below, so no real person's number is in the repository."""

from __future__ import annotations

import datetime as dt

import pytest

from visitt import nationalid


def _check(digits: str, weights: tuple[int, ...]) -> int | None:
    control = 11 - sum(int(d) * w for d, w in zip(digits, weights)) % 11
    return {11: 0, 10: None}.get(control, control)


def make(day: int, month: int, year: int, individual: int, *, d_number: bool = False,
         month_offset: int = 0) -> str | None:
    """A number for this date and individual number, or None if these nine digits have no valid one."""
    nine = f"{day + (40 if d_number else 0):02d}{month + month_offset:02d}{year % 100:02d}{individual:03d}"
    first = _check(nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))
    if first is None:
        return None
    second = _check(nine + str(first), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return None if second is None else f"{nine}{first}{second}"


def numbers(count: int, **kwargs: object) -> list[str]:
    """``count`` valid numbers, spread over dates and individual numbers."""
    out: list[str] = []
    day = dt.date(1950, 1, 1)
    individual = 100
    while len(out) < count:
        number = make(day.day, day.month, day.year, individual, **kwargs)  # type: ignore[arg-type]
        if number is not None:
            out.append(number)
        day += dt.timedelta(days=97)
        individual = (individual + 37) % 1000
    return out


FNR = numbers(1)[0]


def test_the_definition_here_and_the_module_agree() -> None:
    for number in numbers(200):
        assert nationalid.control_digits(number[:9]) == number[9:]
    assert nationalid.control_digits(FNR[:9]) is not None


@pytest.mark.parametrize("number", numbers(25))
def test_valid_fodselsnummer(number: str) -> None:
    assert nationalid.is_valid(number)
    assert nationalid.find(number) == [number]


@pytest.mark.parametrize("number", numbers(25, d_number=True))
def test_valid_d_numbers(number: str) -> None:
    assert 41 <= int(number[:2]) <= 71
    assert nationalid.is_valid(number)
    assert nationalid.contains(f"D-nummeret er {number}")


@pytest.mark.parametrize("offset", [40, 80])
def test_h_numbers_and_synthetic_test_persons(offset: int) -> None:
    for number in numbers(10, month_offset=offset):
        assert nationalid.is_valid(number)


def test_wrong_control_digits_are_not_numbers() -> None:
    for number in numbers(50):
        for position in (9, 10):
            for digit in "0123456789":
                if digit != number[position]:
                    wrong = number[:position] + digit + number[position + 1:]
                    assert not nationalid.is_valid(wrong), wrong
                    assert not nationalid.contains(wrong)


def test_nine_digits_no_valid_number_starts_with() -> None:
    # some first nine digits give a first control digit of 10: no number starts with them
    impossible = [f"010190{i:03d}" for i in range(1000) if make(1, 1, 1990, i) is None]
    assert impossible
    assert all(nationalid.control_digits(nine) is None for nine in impossible)


@pytest.mark.parametrize("date", ["320190", "000190", "310490", "300290", "011390", "010090", "013390",
                                  "720190", "019390"])
def test_a_date_that_cannot_exist_is_not_a_number(date: str) -> None:
    # with any individual number whose control digits would be right
    for individual in range(1000):
        nine = f"{date}{individual:03d}"
        control = nationalid.control_digits(nine)
        if control is not None:
            assert not nationalid.is_valid(nine + control), nine + control
            return
    pytest.fail("no individual number gives control digits")


def test_29_february_is_a_date() -> None:
    number = next(n for i in range(1000) if (n := make(29, 2, 1984, i)))
    assert nationalid.is_valid(number)


@pytest.mark.parametrize("template", [
    "{} is my number",
    "my number is {}.",
    "fødselsnummer: {}",
    "({})",
    "nr.{}, thanks",
    "line one\n{}\nline two",
])
def test_numbers_in_text(template: str) -> None:
    assert nationalid.find(template.format(FNR)) == [FNR]


@pytest.mark.parametrize("separator", [" ", ".", "-"])
def test_numbers_typed_as_six_and_five(separator: str) -> None:
    typed = f"{FNR[:6]}{separator}{FNR[6:]}"
    assert nationalid.find(f"it is {typed} ok") == [FNR]


def test_several_numbers_are_all_found() -> None:
    first, second = numbers(2)
    assert nationalid.find(f"{first} and {second}") == [first, second]


def test_digits_from_other_scripts_and_invisible_characters() -> None:
    arabic_indic = FNR.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    full_width = FNR.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    zero_width = "\u200b".join(FNR)
    for text in (arabic_indic, full_width, zero_width):
        assert nationalid.find(text) == [FNR]


@pytest.mark.parametrize("text", [
    "call me on 412 34 567",
    "+47 412 34 567",
    "004741234567",              # 12 digits
    "4741234567",                # 10 digits
    "my order 12345678901",      # 11 digits, not a date
    "20240315093000",            # a timestamp
    "the meeting id is 98765432100",
    "1234 5678 9012",
    "0101901234",                # 10 digits
    "",
])
def test_other_numbers_are_not_flagged(text: str) -> None:
    assert nationalid.find(text) == []


def test_eleven_digit_strings_that_fail_the_checksum_are_not_flagged() -> None:
    # phone-like: a Norwegian mobile number with a country code and a trailing digit, and counting runs
    candidates = [f"4741234567{i}" for i in range(10)] + [f"0047412345{i}" for i in range(10)]
    candidates += ["12345678901", "11111111111", "98765432109"]
    flagged = [text for text in candidates if nationalid.contains(text)]
    assert flagged == []


def test_a_number_inside_a_longer_run_of_digits_is_not_one() -> None:
    assert nationalid.find(f"1{FNR}") == []
    assert nationalid.find(f"{FNR}0") == []


def test_control_digits_wants_nine_digits() -> None:
    with pytest.raises(ValueError):
        nationalid.control_digits("12345")
    with pytest.raises(ValueError):
        nationalid.control_digits("12345678x")

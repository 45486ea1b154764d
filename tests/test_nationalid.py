"""National identity numbers in free text. Every number here is made up in the test from a date and an
individual number, with control digits from python-stdnum (``stdnum.no.fodselsnummer``), or is the
example number of stdnum's documentation, so no real person's number is in the repository. The tests
assert what the chat does with a text: which numbers it finds, and which look-alikes it lets through."""

from __future__ import annotations

import datetime as dt

import pytest
from stdnum.no import fodselsnummer

from visitt import nationalid

DOCUMENTED = "15108695088"  # the valid example in python-stdnum's documentation of fodselsnummer
DOCUMENTED_WRONG = "15108695077"  # ... and its example of a wrong checksum


def complete(nine: str) -> str | None:
    """The nine digits with stdnum's two control digits, or None if they have none (a control digit would be 10)."""
    first = fodselsnummer.calc_check_digit1(nine)
    number = nine + first + fodselsnummer.calc_check_digit2(nine + first)
    return number if len(number) == 11 else None


def make(born: dt.date, individual: int, *, d_number: bool = False, month_offset: int = 0) -> str | None:
    """A number for this date and individual number, or None if these nine digits have none."""
    return complete(f"{born.day + (40 if d_number else 0):02d}{born.month + month_offset:02d}"
                    f"{born.year % 100:02d}{individual:03d}")


def with_date_digits(ddmmyy: str, individuals: range = range(500)) -> list[str]:
    """Every number whose first six digits are ``ddmmyy``, for these individual numbers."""
    return [number for individual in individuals if (number := complete(f"{ddmmyy}{individual:03d}"))]


def numbers(count: int, *, d_number: bool = False, month_offset: int = 0) -> list[str]:
    """``count`` valid numbers of people born 1950-1999 (individual numbers 000-499), spread over dates."""
    out: list[str] = []
    born = dt.date(1950, 1, 1)
    individual = 100
    while len(out) < count:
        number = make(born, individual, d_number=d_number, month_offset=month_offset)
        if number is not None:
            out.append(number)
        born += dt.timedelta(days=97)
        individual = (individual + 37) % 500
    return out


FNR = numbers(1)[0]


def test_the_documented_example_is_found_and_its_wrong_twin_is_not() -> None:
    assert nationalid.find(f"nr {DOCUMENTED}") == [DOCUMENTED]
    assert nationalid.find(f"nr {DOCUMENTED_WRONG}") == []


@pytest.mark.parametrize("number", numbers(25))
def test_fodselsnummer_are_found(number: str) -> None:
    assert fodselsnummer.is_valid(number)  # the test's numbers are real-looking by stdnum's own check
    assert nationalid.find(number) == [number]


@pytest.mark.parametrize("number", numbers(25, d_number=True))
def test_d_numbers_are_found(number: str) -> None:
    assert 41 <= int(number[:2]) <= 71
    assert nationalid.contains(f"D-nummeret er {number}")


@pytest.mark.parametrize("number", numbers(10, month_offset=40))
def test_h_numbers_and_nav_test_persons_are_found(number: str) -> None:
    assert nationalid.contains(f"H-nummer {number}")


@pytest.mark.parametrize("number", numbers(10, month_offset=80))
def test_tenor_test_persons_are_found_though_stdnum_does_not_know_them(number: str) -> None:
    assert not fodselsnummer.is_valid(number)
    assert nationalid.contains(f"testperson {number}")


def test_one_wrong_control_digit_and_it_is_not_a_number() -> None:
    for number in numbers(30) + numbers(10, d_number=True) + numbers(10, month_offset=80):
        for position in (9, 10):
            for digit in "0123456789":
                if digit != number[position]:
                    wrong = number[:position] + digit + number[position + 1:]
                    assert not nationalid.contains(f"nr {wrong}"), wrong


@pytest.mark.parametrize("ddmmyy", ["320190", "000190", "310490", "300290", "011390", "010090", "013390",
                                    "720190", "019390", "800190"])
def test_a_date_that_cannot_exist_is_not_a_number(ddmmyy: str) -> None:
    candidates = with_date_digits(ddmmyy)  # control digits right, date wrong
    assert candidates and not any(nationalid.contains(number) for number in candidates)


def test_29_february_only_in_a_leap_year() -> None:
    leap, not_leap = with_date_digits("290284"), with_date_digits("290285")
    assert leap and all(nationalid.contains(number) for number in leap)
    assert not_leap and not any(nationalid.contains(number) for number in not_leap)


def test_an_individual_number_from_another_century_is_not_a_number() -> None:
    # 500-749 were given to people born 1854-1899 and from 2000 on, never to those born 1940-1953
    assert not any(nationalid.contains(number) for number in with_date_digits("010145", range(500, 750)))
    assert all(nationalid.contains(number) for number in with_date_digits("010145", range(0, 500)))


def test_someone_not_born_yet_has_no_number() -> None:
    # born next year, in the 2000s (individual numbers 500-999); the date part and control digits are fine
    born = dt.date.today() + dt.timedelta(days=400)
    future = with_date_digits(born.strftime("%d%m%y"), range(500, 1000))
    assert future and not any(nationalid.contains(number) for number in future)


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

"""Loan applications: the schema, the sample set and the loaders, as a credit officer relies on them."""

from __future__ import annotations

import copy
import csv
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from xiaoshen.errors import XiaoshenError
from xiaoshen.review import application as schema
from xiaoshen.review.application import (
    CSV_COLUMNS,
    Application,
    ApplicationError,
    BorrowerType,
    Product,
    load_application,
    load_applications_csv,
    note_language,
    parse_application,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "sample_applications"
SAMPLE_FILES = sorted(SAMPLES.iterdir())
SAMPLE_CSV = ROOT / "data" / "sample_applications.csv"
BAD = Path(__file__).resolve().parent / "data" / "bad_applications"


def business(**request: Any) -> dict[str, Any]:
    """A small valid SME working-capital application to vary in tests."""
    return {
        "id": "T-001", "as_of": "2025-09-30",
        "borrower": {"name": "Test Trading Ltd", "type": "sme", "masked_id": "CRN ****1234"},
        "request": {"product": "sme_working_capital", "amount": "500000", "currency": "USD", "tenor_months": 12,
                    "purpose": "stock purchases", "rate_pct": "8.0", "repayment": "bullet", **request},
        "financials": [{"period_end": "2024-12-31", "revenue": 9000000, "ebitda": 900000, "net_income": 400000,
                        "interest_expense": 100000, "total_debt": 1500000, "current_assets": 3000000,
                        "current_liabilities": 2200000, "equity": 2500000, "annual_debt_service": 450000}],
        "exposure": {"risk_grade": 4},
    }


def individual(**request: Any) -> dict[str, Any]:
    """A small valid mortgage application to vary in tests."""
    return {
        "id": "T-002", "as_of": "2025-09-30",
        "borrower": {"name": "Test Person", "type": "individual", "masked_id": "SSN ***-**-0001", "age": 40},
        "request": {"product": "mortgage", "amount": 300000, "currency": "USD", "tenor_months": 300,
                    "purpose": "first home", "rate_pct": 6.5, "repayment": "amortising", "occupancy": "first_home",
                    **request},
        "financials": [],
        "income": {"employment": "salaried", "gross_monthly_income": 9000, "monthly_debt_payments": 300,
                   "documents": ["payslips_6m", "bank_statements_6m"]},
        "collateral": [{"type": "residential_property", "description": "house", "market_value": 420000,
                        "currency": "USD", "valuation_date": "2025-09-01"}],
        "credit": {"score": 720},
        "exposure": {"risk_grade": 3},
    }


def rejected(data: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        parse_application(data, "test.json")
    return info.value


# ------------------------------------------------------------------ the sample applications


def test_the_sample_set_has_at_least_32_applications_named_by_id_and_case() -> None:
    assert len(SAMPLE_FILES) >= 32
    for path in SAMPLE_FILES:
        assert re.fullmatch(r"APP-\d{3}_[a-z0-9.-]+\.(json|yaml)", path.name), path.name
    assert any(path.suffix == ".yaml" for path in SAMPLE_FILES)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.stem)
def test_every_sample_application_loads_and_says_what_it_exercises(path: Path) -> None:
    app = load_application(path)
    assert app.id == path.name.split("_")[0]
    assert app.notes and len(app.notes) > 20
    # Consistent with its decision date: accounts closed and collateral valued before it.
    assert all(period.period_end < app.as_of for period in app.financials)
    assert all(item.valuation_date <= app.as_of for item in app.collateral)
    assert [p.period_end for p in app.financials] == sorted((p.period_end for p in app.financials), reverse=True)


def _samples() -> list[Application]:
    return [load_application(path) for path in SAMPLE_FILES]


def test_the_samples_cover_every_product_borrower_type_and_both_languages() -> None:
    apps = _samples()
    assert {app.request.product for app in apps} == set(get_args(Product))
    assert {app.borrower.type for app in apps} == set(get_args(BorrowerType))
    chinese = [app for app in apps if app.borrower.language == "zh"]
    assert chinese and all(app.request.currency == "CNY" for app in chinese)
    assert any(re.search(r"[\u4e00-\u9fff]", app.borrower.name) for app in chinese)


def test_the_samples_include_the_edge_cases_the_rules_must_handle() -> None:
    apps = _samples()
    smes = [app for app in apps if app.request.product == "sme_working_capital"]
    assert any(app.financials and app.financials[0].ebitda == 0 for app in apps)
    assert any((app.as_of - item.valuation_date).days > 365 for app in apps for item in app.collateral)
    assert any(app.request.occupancy == "buy_to_let" for app in apps)
    assert any(app.request.product == "cre_construction" and app.request.construction_cost for app in apps)
    assert any(not app.financials for app in smes)
    assert any(app.financials and app.financials[0].inventory_days is None for app in smes)
    assert any(app.request.repayment == "revolving" and app.request.currency == "USD"
               and (app.request.single_payment_max or 0) > 500000 for app in smes)
    assert any(app.exposure.risk_grade >= 8 for app in apps)
    assert any(app.credit and app.credit.score is not None and app.credit.score < 580 for app in apps)
    assert any(len(app.financials) == 3 for app in apps)


# ------------------------------------------------------------------ bad input: one line naming file, field, problem

BAD_CASES = [
    ("malformed.json", "(file)", "malformed JSON at line 14: Expecting ',' delimiter"),
    ("malformed.yaml", "(file)", "malformed YAML at line 6"),
    ("missing_amount.json", "request.amount", "required field is missing"),
    ("negative_amount.json", "request.amount", "must be greater than 0 (got -250000)"),
    ("unknown_currency.json", "request.currency", "unknown currency 'XYZ'"),
    ("unmasked_identifier.json", "borrower.masked_id", "identifier must be masked"),
    ("individual_without_income.json", "income", "individual borrowers need income"),
    ("misspelt_field.json", "request.amount", "required field is missing"),
]


@pytest.mark.parametrize(("name", "field", "problem"), BAD_CASES, ids=[case[0] for case in BAD_CASES])
def test_a_bad_file_gives_one_line_naming_the_file_field_and_problem(name: str, field: str, problem: str) -> None:
    path = BAD / name
    with pytest.raises(ApplicationError) as info:
        load_application(path)
    error = info.value
    assert isinstance(error, XiaoshenError)
    assert (error.source, error.field) == (str(path), field)
    assert problem in error.problem
    assert str(error) == f"{path}: {field}: {error.problem}"
    assert "\n" not in str(error)
    assert error.problems[0] == (error.field, error.problem)


def test_every_validation_problem_is_kept_not_just_the_first() -> None:
    with pytest.raises(ApplicationError) as info:
        load_application(BAD / "misspelt_field.json")
    assert ("request.amout", "unknown field (misspelt, or not in the schema)") in info.value.problems
    data = business(amount=-1, currency="XYZ", tenor_months=0)
    assert [field for field, _ in rejected(data).problems] == [
        "request.amount", "request.currency", "request.tenor_months"]


def test_an_unmasked_identifier_is_never_repeated_in_the_error() -> None:
    with pytest.raises(ApplicationError) as info:
        load_application(BAD / "unmasked_identifier.json")
    error = info.value
    assert "91310115MA1K4L2N3P" not in f"{error} {error.problems} {error.hint} {error.__cause__}"
    assert error.__suppress_context__  # pydantic's own message, which echoes inputs, is not chained


@pytest.mark.parametrize("masked", ["91310000****1234", "SSN ***-**-4417", "xxxx-xxxx-1234", "310104********2318"])
def test_masked_identifiers_are_accepted(masked: str) -> None:
    data = business()
    data["borrower"]["masked_id"] = masked
    assert parse_application(data).borrower.masked_id == masked


@pytest.mark.parametrize("unmasked", ["110105199001011234", "***-1234", ""])
def test_identifiers_with_fewer_than_four_masked_characters_are_rejected(unmasked: str) -> None:
    data = business()
    data["borrower"]["masked_id"] = unmasked
    error = rejected(data)
    assert (error.field, error.problem) == ("borrower.masked_id", "identifier must be masked")


def test_file_level_problems_name_the_file(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    twice = tmp_path / "twice.json"
    twice.write_text('{"id": "A-1", "id": "A-2"}', encoding="utf-8")
    text = tmp_path / "notes.txt"
    text.write_text("x", encoding="utf-8")
    cases = {tmp_path / "absent.json": "(file)", text: "(file)", listed: "(file)", twice: "id"}
    for path, field in cases.items():
        with pytest.raises(ApplicationError) as info:
            load_application(path)
        assert (info.value.source, info.value.field) == (str(path), field), str(info.value)


# ------------------------------------------------------------------ CSV


def test_the_sample_csv_loads_six_applications_of_mixed_products() -> None:
    results = load_applications_csv(SAMPLE_CSV)
    assert len(results) == 6 and all(isinstance(app, Application) for app in results)
    assert len({app.request.product for app in results if isinstance(app, Application)}) >= 5
    header = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(CSV_COLUMNS)


def test_csv_loads_the_good_row_and_reports_the_bad_row_by_number_without_stopping() -> None:
    path = BAD / "one_good_one_bad.csv"
    good, bad = load_applications_csv(path)
    assert isinstance(good, Application) and good.id == "CSV-GOOD-1"
    assert isinstance(bad, ApplicationError)
    assert bad.source == f"{path}:row 3"  # the header is row 1, as in a spreadsheet
    assert str(bad) == f"{path}:row 3: request.currency: unknown currency 'RMB'"
    assert "currency" in bad.hint


def test_the_csv_columns_are_the_ones_documented_in_the_module_docstring() -> None:
    documented = schema.__doc__.split("CSV columns")[1].split(":", 1)[1]
    names = [name.strip() for name in documented.replace("\n", " ").split(",")]
    assert names == list(CSV_COLUMNS)


def test_csv_empty_cells_are_absent_and_documents_split_on_semicolons() -> None:
    consumer = next(app for app in load_applications_csv(SAMPLE_CSV)
                    if isinstance(app, Application) and app.request.product == "consumer_unsecured")
    assert (consumer.financials, consumer.collateral, consumer.guarantees) == ([], [], [])
    assert consumer.request.amortisation_months is None
    assert consumer.income is not None and consumer.income.documents == ["payslips_6m", "bank_statements_6m"]


def _csv(tmp_path: Path, header: list[str], *rows: list[str]) -> Path:
    path = tmp_path / "apps.csv"
    path.write_text("\n".join(",".join(line) for line in [header, *rows]) + "\n", encoding="utf-8")
    return path


def test_csv_with_an_unknown_column_is_rejected_as_a_whole(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["id", "amout"], ["A-1", "5"])
    with pytest.raises(ApplicationError) as info:
        load_applications_csv(path)
    assert (info.value.source, info.value.field) == (str(path), "amout")


def test_csv_rows_with_missing_cells_or_repeated_ids_are_reported(tmp_path: Path) -> None:
    rows = list(SAMPLE_CSV.read_text(encoding="utf-8").splitlines())
    path = tmp_path / "apps.csv"
    path.write_text("\n".join([rows[0], rows[1], "CSV-X,2025-09-30", rows[1]]) + "\n", encoding="utf-8")
    first, short, repeated = load_applications_csv(path)
    assert isinstance(first, Application)
    assert isinstance(short, ApplicationError) and (short.source, short.field) == (f"{path}:row 3", "(row)")
    assert isinstance(repeated, ApplicationError) and repeated.field == "id"
    assert "first on row 2" in repeated.problem


def test_csv_required_values_left_empty_are_errors_not_defaults(tmp_path: Path) -> None:
    header, *rows = csv.reader(SAMPLE_CSV.read_text(encoding="utf-8").splitlines())
    rows[-1][header.index("risk_grade")] = ""
    path = tmp_path / "apps.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, rows[-1]])
    (error,) = load_applications_csv(path)
    assert isinstance(error, ApplicationError)
    assert (error.field, error.problem) == ("exposure.risk_grade", "required field is missing")


# ------------------------------------------------------------------ schema rules

RETAIL = {"mortgage", "consumer_unsecured"}


@pytest.mark.parametrize("kind", get_args(BorrowerType))
@pytest.mark.parametrize("product", get_args(Product))
def test_products_accept_only_their_borrower_types(product: str, kind: str) -> None:
    data = individual() if kind == "individual" else business()
    data["borrower"]["type"] = kind
    data["request"]["product"] = product
    data["request"]["occupancy"] = "first_home" if product == "mortgage" else None
    if (product in RETAIL) == (kind == "individual"):
        assert parse_application(data).request.product == product
    else:
        error = rejected(data)
        assert error.field == "request.product"
        assert product in error.problem and kind in error.problem


def test_a_mortgage_needs_an_occupancy() -> None:
    error = rejected(individual(occupancy=None))
    assert error.field == "request.occupancy"


def test_financial_periods_are_sorted_newest_first_whatever_the_input_order() -> None:
    data = business()
    period = data["financials"][0]
    data["financials"] = [dict(period, period_end=end) for end in ("2022-12-31", "2024-12-31", "2023-12-31")]
    ends = [p.period_end for p in parse_application(data).financials]
    assert ends == [date(2024, 12, 31), date(2023, 12, 31), date(2022, 12, 31)]
    sample = load_application(next(SAMPLES.glob("APP-027_*")))
    assert [p.period_end.year for p in sample.financials] == [2024, 2023, 2022]


def test_at_most_three_distinct_financial_periods() -> None:
    data = business()
    period = data["financials"][0]
    data["financials"] = [dict(period, period_end=f"{year}-12-31") for year in (2021, 2022, 2023, 2024)]
    assert rejected(data).field == "financials"
    data["financials"] = [period, dict(period)]
    error = rejected(data)
    assert (error.field, error.problem) == ("financials", "two periods end on 2024-12-31")


@pytest.mark.parametrize(("where", "key"), [
    ((), "finacials"), (("borrower",), "nmae"), (("request",), "amout"), (("financials", 0), "revnue"),
    (("income",), "salary"), (("collateral", 0), "valuation"), (("credit",), "scroe"), (("exposure",), "grade"),
])
def test_extra_or_misspelt_fields_are_rejected_at_every_level(where: tuple[str | int, ...], key: str) -> None:
    data = individual()
    data["financials"] = copy.deepcopy(business()["financials"])
    target: Any = data
    for step in where:
        target = target[step]
    target[key] = 1
    error = rejected(data)
    dotted = ".".join(str(step) for step in where).replace(".0", "[0]")
    assert error.field == (f"{dotted}.{key}" if where else key)
    assert error.problem == "unknown field (misspelt, or not in the schema)"


@pytest.mark.parametrize(("section", "field", "value"), [
    ("request", "tenor_months", 0), ("request", "tenor_months", 481), ("request", "rate_pct", 31),
    ("request", "balloon_pct", 101), ("borrower", "age", 17), ("exposure", "risk_grade", 11),
    ("credit", "score", 250), ("borrower", "language", "fr"), ("request", "repayment", "balloon"),
])
def test_values_outside_their_range_are_rejected(section: str, field: str, value: Any) -> None:
    data = individual()
    data[section][field] = value
    assert rejected(data).field == f"{section}.{field}"


def test_nothing_required_is_defaulted() -> None:
    for path in (("exposure", "risk_grade"), ("collateral", 0, "valuation_date"), ("income", "documents"),
                 ("financials",), ("as_of",)):
        data = individual()
        *parents, last = path
        target: Any = data
        for step in parents:
            target = target[step]
        del target[last]
        error = rejected(data)
        assert error.problem == "required field is missing", error
        assert error.field.replace("[0]", ".0") == ".".join(map(str, path))


def test_the_documented_defaults_and_signs() -> None:
    data = business()
    data["financials"][0].update(ebitda=-50000, net_income=-300000, equity=-10000)
    data["collateral"] = [{"type": "inventory", "description": "stock", "market_value": 1, "currency": "USD",
                           "valuation_date": "2025-09-01"}]
    app = parse_application(data)
    # No language given: the note's language follows jurisdiction and currency (a USD loan: English).
    assert (app.borrower.language, note_language(app), app.exposure.existing_group_exposure, app.credit) == (
        None, "en", 0, None)
    item = app.collateral[0]
    assert (item.lien_position, item.prior_liens, item.independent_valuer) == (1, 0, True)
    data["financials"][0]["revenue"] = -1
    assert rejected(data).field == "financials[0].revenue"


def test_money_is_exact_decimal_from_json_and_yaml(tmp_path: Path) -> None:
    data = business(amount=1234567.89)
    (tmp_path / "a.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_application(tmp_path / "a.json").request.amount == Decimal("1234567.89")
    yaml_text = json.dumps(data).replace('"amount": 1234567.89', '"amount": 0.1')  # JSON is valid YAML
    (tmp_path / "a.yml").write_text(yaml_text, encoding="utf-8")
    assert load_application(tmp_path / "a.yml").request.amount == Decimal("0.1")


@pytest.mark.parametrize("code", ["USD", "CNY", "EUR", "GBP", "HKD"])
def test_the_five_currencies_are_accepted_and_nothing_else(code: str) -> None:
    assert parse_application(business(currency=code)).request.currency == code
    assert rejected(business(currency=code.lower())).problem == f"unknown currency '{code.lower()}'"


def test_every_field_of_every_model_is_described_and_forbids_extras() -> None:
    models = [value for value in vars(schema).values()
              if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == schema.__name__]
    assert len(models) >= 9
    for model in models:
        assert model.model_config.get("extra") == "forbid", model
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"

"""Loan applications: the schema a credit review starts from, and loaders for JSON, YAML and CSV.

Money is `Decimal` (exact to the cent), >= 0 unless a field says otherwise; percentages are percent (6.5
means 6.5%). Unknown (misspelt) fields are errors, and nothing is guessed: missing required data is an
error, never a default. Loaders raise (CSV: return per row) `ApplicationError`: `source: field: problem`.

CSV columns (one application per row; an empty cell means absent; one financial period, at most one
collateral and one guarantee per row; `income_documents` is semicolon-separated; rows are numbered as
in a spreadsheet, the header being row 1):

    id, as_of, borrower_name, borrower_type, masked_id, industry, years_in_business, group, language, jurisdiction, age,
    product, amount, currency, tenor_months, amortisation_months, purpose, rate_pct, repayment, balloon_pct,
    occupancy, construction_cost, single_payment_max, fy_end, revenue, ebitda, net_income, interest_expense,
    total_debt, current_assets, current_liabilities, equity, annual_debt_service, net_operating_income,
    sales_margin_pct, projected_growth_pct, inventory_days, receivable_days, payable_days, prepayment_days,
    advance_receipt_days, other_wc_financing, employment, gross_monthly_income, monthly_debt_payments,
    income_documents, collateral_type, collateral_description, collateral_value, collateral_currency,
    valuation_date, lien_position, prior_liens, guarantor, guarantee_type, guarantee_amount, guarantor_tnw,
    guarantor_ownership_pct, credit_score, delinquencies_12m, risk_grade, existing_group_exposure
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from xiaoshen.errors import XiaoshenError

CurrencyCode = Literal["USD", "CNY", "EUR", "GBP", "HKD"]
CURRENCIES: tuple[str, ...] = get_args(CurrencyCode)
BorrowerType = Literal["individual", "sme", "corporate"]
Product = Literal["cre_owner_occupied", "cre_investment", "cre_construction", "cre_land",
                  "sme_working_capital", "mortgage", "consumer_unsecured"]
CollateralType = Literal["cash_same_currency", "cash_other_currency", "government_bond", "listed_equity_main_index",
                         "listed_equity_other", "residential_property", "commercial_property", "land",
                         "trade_receivables", "inventory", "machinery"]
RETAIL_PRODUCTS: frozenset[str] = frozenset({"mortgage", "consumer_unsecured"})
# Our own error types: their messages are written for a credit officer and are shown as they are.
_OWN_ERRORS = {"unknown_currency", "unmasked_identifier"}
_PLAIN = {"missing": "required field is missing", "extra_forbidden": "unknown field (misspelt, or not in the schema)"}


def _known_currency(value: Any) -> Any:
    # Runs before the Literal check so the message names the bad code instead of listing the good ones.
    if isinstance(value, str) and value not in CURRENCIES:
        raise PydanticCustomError("unknown_currency", "unknown currency '{currency}'", {"currency": value})
    return value


def _masked(value: Any) -> Any:
    # Applications end up in review notes and logs: a full identifier must never enter the system.
    if isinstance(value, str) and sum(value.count(mark) for mark in "*xX") < 4:
        raise PydanticCustomError("unmasked_identifier", "identifier must be masked")
    return value


def _rule(field: str, problem: str) -> PydanticCustomError:
    """A cross-field error that still names the field it is about (model validators have no location)."""
    return PydanticCustomError("application_rule", "{field}: {problem}", {"field": field, "problem": problem})


Currency = Annotated[CurrencyCode, BeforeValidator(_known_currency)]
MaskedId = Annotated[str, BeforeValidator(_masked)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Borrower(_Model):
    name: str = Field(min_length=1, description="Legal name of the borrower, in its own script.")
    type: BorrowerType = Field(description="individual, sme or corporate.")
    masked_id: MaskedId = Field(description="Registration or ID number with at least 4 characters masked by '*' or 'x'.")
    industry: str | None = Field(default=None, description="Line of business, e.g. 'precision machining'.")
    years_in_business: Decimal | None = Field(default=None, ge=0, description="Years trading in the current line of business.")
    group: str | None = Field(default=None, description="Name of the group of connected borrowers it belongs to.")
    language: Literal["en", "zh"] | None = Field(default=None, description="Language the review note is written in; "
                                                 "when absent it follows the jurisdiction and the loan currency.")
    jurisdiction: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                     description="Country of registration or residence (ISO 3166, e.g. 'CN').")
    age: int | None = Field(default=None, ge=18, le=100, description="Age in years today (individuals).")


class LoanRequest(_Model):
    product: Product = Field(description="The lending product, which decides the policy that applies.")
    amount: Decimal = Field(gt=0, description="Amount requested, in `currency`.")
    currency: Currency = Field(description="Currency of the loan.")
    tenor_months: int = Field(ge=1, le=480, description="Months from first drawdown to final maturity.")
    amortisation_months: int | None = Field(default=None, ge=1, le=480, description="Months the repayment schedule is sized over, if longer or shorter than the tenor.")
    purpose: str = Field(min_length=1, description="What the proceeds pay for, as the borrower states it.")
    rate_pct: Decimal = Field(ge=0, le=30, description="Annual interest rate in percent.")
    repayment: Literal["amortising", "interest_only", "bullet", "revolving"] = Field(description="How principal is repaid.")
    balloon_pct: Decimal | None = Field(default=None, ge=0, le=100, description="Principal left at maturity, percent of the original amount.")
    occupancy: Literal["first_home", "second_home", "buy_to_let"] | None = Field(default=None, description="Use of the home (mortgages).")
    construction_cost: Decimal | None = Field(default=None, ge=0, description="Total project cost, for loan-to-cost (cre_construction).")
    single_payment_max: Decimal | None = Field(default=None, ge=0, description="Largest single disbursement, for entrusted-payment checks.")


class FinancialPeriod(_Model):
    period_end: date = Field(description="Last day of the financial year or period.")
    revenue: Decimal = Field(ge=0, description="Annual sales revenue.")
    ebitda: Decimal = Field(description="EBITDA; may be zero or negative.")
    net_income: Decimal = Field(description="Net profit after tax; may be negative.")
    interest_expense: Decimal = Field(ge=0, description="Interest paid on all debt in the period.")
    total_debt: Decimal = Field(ge=0, description="All interest-bearing borrowings at period end.")
    current_assets: Decimal = Field(ge=0, description="Current assets at period end.")
    current_liabilities: Decimal = Field(ge=0, description="Current liabilities at period end.")
    equity: Decimal = Field(description="Shareholders' equity at period end; may be negative.")
    annual_debt_service: Decimal = Field(ge=0, description="Existing debt service, principal plus interest, per year.")
    net_operating_income: Decimal | None = Field(default=None, ge=0, description="Net operating income of the financed property (CRE).")
    sales_margin_pct: Decimal | None = Field(default=None, ge=-100, le=100, description="Operating profit / revenue, percent.")
    projected_growth_pct: Decimal | None = Field(default=None, ge=-100, description="Projected sales growth for next year, percent.")
    inventory_days: Decimal | None = Field(default=None, ge=0, description="Inventory days (360-day year).")
    receivable_days: Decimal | None = Field(default=None, ge=0, description="Trade receivable days.")
    payable_days: Decimal | None = Field(default=None, ge=0, description="Trade payable days.")
    prepayment_days: Decimal | None = Field(default=None, ge=0, description="Prepayments to suppliers, days.")
    advance_receipt_days: Decimal | None = Field(default=None, ge=0, description="Advance receipts from customers, days.")
    other_wc_financing: Decimal | None = Field(default=None, ge=0, description="Working-capital financing from other sources.")


class IndividualIncome(_Model):
    employment: Literal["salaried", "self_employed"] = Field(description="How the income is earned; decides the documents needed.")
    gross_monthly_income: Decimal = Field(gt=0, description="Verified gross income per month.")
    monthly_debt_payments: Decimal = Field(ge=0, description="Existing monthly debt payments, excluding the new loan.")
    documents: list[str] = Field(description="Evidence provided, e.g. ['payslips_6m', 'bank_statements_6m'].")


class Collateral(_Model):
    type: CollateralType = Field(description="Collateral class; decides the haircut.")
    description: str = Field(min_length=1, description="What the asset is and where.")
    market_value: Decimal = Field(gt=0, description="Market value at the valuation date.")
    currency: Currency = Field(description="Currency of the market value.")
    valuation_date: date = Field(description="Date of the valuation.")
    lien_position: int = Field(default=1, ge=1, le=3, description="1 for a first lien.")
    prior_liens: Decimal = Field(default=Decimal(0), ge=0, description="Amounts secured ahead of or alongside the Bank.")
    independent_valuer: bool = Field(default=True, description="Valued by an independent valuer from the Bank's panel.")


class Guarantee(_Model):
    guarantor: str = Field(min_length=1, description="Name of the guarantor.")
    type: Literal["personal", "corporate"] = Field(description="Personal or corporate guarantee.")
    amount: Decimal = Field(gt=0, description="Amount guaranteed.")
    tangible_net_worth: Decimal | None = Field(default=None, ge=0, description="Guarantor's tangible net worth.")
    ownership_pct: Decimal | None = Field(default=None, ge=0, le=100, description="Shareholding in the borrower, percent.")
    board_resolution: bool | None = Field(default=None, description="Corporate guarantor's board has authorised it.")


class CreditHistory(_Model):
    score: int | None = Field(default=None, ge=300, le=900, description="Bureau credit score.")
    delinquencies_12m: int = Field(default=0, ge=0, description="Delinquencies in the last 12 months.")
    max_days_past_due_12m: int = Field(default=0, ge=0, description="Worst days past due in the last 12 months.")


class Exposure(_Model):
    risk_grade: int = Field(ge=1, le=10, description="Internal risk grade, 1 (strongest) to 10 (loss).")
    existing_group_exposure: Decimal = Field(default=Decimal(0), ge=0, description="USD exposure to the borrower group before this loan.")


class Application(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{3,40}$", description="Application reference, e.g. 'APP-001'.")
    as_of: date = Field(description="The decision date the review note is written for.")
    borrower: Borrower = Field(description="Who is borrowing.")
    request: LoanRequest = Field(description="What is asked for.")
    financials: list[FinancialPeriod] = Field(max_length=3, description="Up to 3 financial periods, newest first; [] if none.")
    income: IndividualIncome | None = Field(default=None, description="Income of an individual borrower.")
    collateral: list[Collateral] = Field(default_factory=list, description="Security offered.")
    guarantees: list[Guarantee] = Field(default_factory=list, description="Guarantees offered.")
    credit: CreditHistory | None = Field(default=None, description="Bureau record, if any.")
    exposure: Exposure = Field(description="Risk grade and existing group exposure.")
    notes: str | None = Field(default=None, description="Free text from the preparer.")

    @model_validator(mode="after")
    def _consistent(self) -> Application:
        kind, product = self.borrower.type, self.request.product
        ends = [period.period_end for period in self.financials]
        for end in ends:
            if ends.count(end) > 1:
                raise _rule("financials", f"two periods end on {end.isoformat()}")
        if kind == "individual" and self.income is None:
            raise _rule("income", "individual borrowers need income")
        if product in RETAIL_PRODUCTS and kind != "individual":
            raise _rule("request.product", f"{product} needs an individual borrower, not {kind}")
        if product not in RETAIL_PRODUCTS and kind == "individual":
            raise _rule("request.product", f"{product} needs an sme or corporate borrower, not individual")
        if product == "mortgage" and self.request.occupancy is None:
            raise _rule("request.occupancy", "mortgages need occupancy (first_home, second_home or buy_to_let)")
        # The analysis reads financials[0] as the latest year, whatever order the file listed them in.
        self.financials.sort(key=lambda period: period.period_end, reverse=True)
        return self


# Where a note is read in Chinese: mainland China, Hong Kong, Macao and Taiwan, or a loan in RMB.
CHINESE_JURISDICTIONS = frozenset({"CN", "HK", "MO", "TW"})


def note_language(app: Application) -> Literal["en", "zh"]:
    """The language of the application's review note: its `language` field, else Chinese for a borrower in a
    Chinese jurisdiction or a loan in CNY, else English."""
    if app.borrower.language is not None:
        return app.borrower.language
    if app.borrower.jurisdiction in CHINESE_JURISDICTIONS or app.request.currency == "CNY":
        return "zh"
    return "en"


class ApplicationError(XiaoshenError):
    """An application that cannot be read or is invalid; str() is one line: `source: field: problem`."""

    def __init__(self, source: str, field: str, problem: str,
                 problems: list[tuple[str, str]] | None = None, hint: str = "") -> None:
        problem = " ".join(problem.split())  # parsers' messages may span lines; ours is one line
        super().__init__(f"{source}: {field}: {problem}", hint)
        self.source, self.field, self.problem = source, field, problem
        self.problems = problems if problems is not None else [(field, problem)]

    def __str__(self) -> str:
        return self.message


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(application)"


def _describe(error: Any) -> tuple[str, str]:
    """One pydantic error as (dotted field, problem in plain words)."""
    kind, message, loc = error["type"], error["msg"], tuple(error["loc"])
    if kind == "application_rule":
        return error["ctx"]["field"], error["ctx"]["problem"]
    if kind in _PLAIN or kind in _OWN_ERRORS:
        return _dotted(loc), _PLAIN.get(kind, message)
    if message.startswith("Input should be"):
        message = "must be" + message[len("Input should be"):]
    else:
        message = message[:1].lower() + message[1:]
    value = error.get("input")
    # Never echo an identifier back: the error would carry the unmasked number into logs.
    if isinstance(value, str | int | float | Decimal) and "masked_id" not in loc:
        message += f" (got {value[:40]!r})" if isinstance(value, str) else f" (got {value})"
    return _dotted(loc), message


def parse_application(data: Any, source: str = "<application>") -> Application:
    """Validate already-parsed data (a mapping) as an Application; raise ApplicationError naming `source`."""
    if not isinstance(data, Mapping):
        raise ApplicationError(source, "(file)", f"expected a mapping of application fields, got {type(data).__name__}")
    try:
        return Application.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors(include_url=False)]
        hint = f"{len(problems)} problems in all" if len(problems) > 1 else ""
        # `from None`: pydantic's own message repeats every input, including identifiers.
        raise ApplicationError(source, *problems[0], problems=problems, hint=hint) from None


def _read_text(path: Path, source: str) -> str:
    try:
        # Bytes, not read_text(): the CSV reader must see line endings untranslated.
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError(source, "(file)", f"not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise ApplicationError(source, "(file)", f"cannot read the file: {exc.strerror}") from None


def _unique_keys(pairs: list[tuple[str, Any]], source: str) -> dict[str, Any]:
    # json would keep the last of two equal keys; which one the preparer meant is a guess we refuse to make.
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ApplicationError(source, key, "appears twice in one JSON object")
    return dict(pairs)


def load_application(path: Path | str) -> Application:
    """Load one application from a .json, .yaml or .yml file; raise ApplicationError if it is invalid."""
    path = Path(path)
    source, suffix = str(path), path.suffix.lower()
    if suffix not in {".json", ".yaml", ".yml"}:
        raise ApplicationError(source, "(file)", f"unsupported file type '{path.suffix}' (use .json, .yaml or "
                               ".yml; CSV files go through load_applications_csv)")
    text = _read_text(path, source)
    if suffix == ".json":
        try:
            data = json.loads(text, parse_float=Decimal, object_pairs_hook=lambda pairs: _unique_keys(pairs, source))
        except json.JSONDecodeError as exc:
            raise ApplicationError(source, "(file)", f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ApplicationError(source, "(file)", f"malformed YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_application(data, source)


# CSV column -> (section, field); "name:field" renames a column, section "" is the top level.
_CSV_LAYOUT = {
    "": "id as_of",
    "borrower": "borrower_name:name borrower_type:type masked_id industry years_in_business group language "
                "jurisdiction age",
    "request": "product amount currency tenor_months amortisation_months purpose rate_pct repayment balloon_pct "
               "occupancy construction_cost single_payment_max",
    "financials": "fy_end:period_end revenue ebitda net_income interest_expense total_debt current_assets "
                  "current_liabilities equity annual_debt_service net_operating_income sales_margin_pct "
                  "projected_growth_pct inventory_days receivable_days payable_days prepayment_days "
                  "advance_receipt_days other_wc_financing",
    "income": "employment gross_monthly_income monthly_debt_payments income_documents:documents",
    "collateral": "collateral_type:type collateral_description:description collateral_value:market_value "
                  "collateral_currency:currency valuation_date lien_position prior_liens",
    "guarantees": "guarantor guarantee_type:type guarantee_amount:amount guarantor_tnw:tangible_net_worth "
                  "guarantor_ownership_pct:ownership_pct",
    "credit": "credit_score:score delinquencies_12m",
    "exposure": "risk_grade existing_group_exposure",
}
CSV_COLUMNS: dict[str, tuple[str, str]] = {spec.split(":")[0]: (section, spec.split(":")[-1])
                                           for section, specs in _CSV_LAYOUT.items() for spec in specs.split()}
_COLUMN_OF = {target: column for column, target in CSV_COLUMNS.items()}
_LIST_SECTIONS = {"financials", "collateral", "guarantees"}


def _row_data(row: Mapping[str, str]) -> dict[str, Any]:
    # Required sections are always present so a gap is reported at its leaf (request.amount), and a row
    # with no financial cells has no periods: the flat format cannot say "none" any other way.
    data: dict[str, Any] = {"financials": []}
    sections: dict[str, dict[str, Any]] = {"borrower": {}, "request": {}, "exposure": {}}
    for column, cell in row.items():
        value: Any = cell.strip()
        if not value:
            continue
        section, field = CSV_COLUMNS[column]
        if field == "documents":
            value = [document.strip() for document in value.split(";") if document.strip()]
        if section:
            sections.setdefault(section, {})[field] = value
        else:
            data[field] = value
    for section, fields in sections.items():
        data[section] = [fields] if section in _LIST_SECTIONS else fields
    return data


def _column_hint(field: str) -> str:
    parts = re.sub(r"\[\d+\]", "", field).split(".")
    column = _COLUMN_OF.get((parts[0], parts[1]) if len(parts) == 2 else ("", parts[0]))
    return f"CSV column '{column}'" if column else ""


def load_applications_csv(path: Path | str) -> list[Application | ApplicationError]:
    """Load one application per CSV row (columns in the module docstring), in file order: a bad row is an
    ApplicationError (source `file:row N`) in the list; a bad file (no header, unknown column) raises."""
    path = Path(path)
    source = str(path)
    try:
        rows = list(csv.reader(io.StringIO(_read_text(path, source), newline="")))
    except csv.Error as exc:
        raise ApplicationError(source, "(file)", f"malformed CSV: {exc}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ApplicationError(source, "(file)", "empty CSV: no header row")
    header = [name.strip() for name in rows[0]]
    for name in header:
        if name not in CSV_COLUMNS:
            raise ApplicationError(source, name or "(header)", "unknown column (misspelt, or not a documented column)")
        if header.count(name) > 1:
            raise ApplicationError(source, name, "column appears twice in the header")
    results: list[Application | ApplicationError] = []
    first_row_of: dict[str, int] = {}
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, often at the end of exported sheets
        where = f"{source}:row {number}"
        if len(cells) != len(header):
            results.append(ApplicationError(where, "(row)", f"{len(cells)} cells for {len(header)} columns"))
            continue
        try:
            application = parse_application(_row_data(dict(zip(header, cells, strict=True))), where)
        except ApplicationError as error:
            error.hint = "; ".join(part for part in (_column_hint(error.field), error.hint) if part)
            results.append(error)
            continue
        if application.id in first_row_of:
            results.append(ApplicationError(where, "id", f"duplicate id '{application.id}' (first on row "
                                            f"{first_row_of[application.id]})"))
            continue
        first_row_of[application.id] = number
        results.append(application)
    return results

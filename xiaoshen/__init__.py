"""Xiaoshen (小审): a self-hosted credit-policy assistant."""

import sys as _sys

from xiaoshen import offline as _offline

_offline.enforce()
# jsonschema, which Chroma imports, loads rfc3987_syntax whenever it is installed (cyclonedx's SBOM
# validation pulls it in) to check "iri" formats, and building its grammar took 3 s of every cold start;
# nothing here validates an IRI. A None entry makes that optional import fail as if it were absent.
_sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

__version__ = "0.1.0"

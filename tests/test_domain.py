"""The built-in QA dimensions are defined once, in ``qa_service.domain``; every layer reads that list.

Found by a review: the list was written out in rules/schema.py, storage/fact_tables.py (re-exported by
storage/facts.py, from which the performance service read it) and the UI's labels, so a seventh built-in
dimension meant editing all of them.
"""

from __future__ import annotations

import ast
import inspect

from qa_service import domain
from qa_service.performance import service as performance_service
from qa_service.rules import schema
from qa_service.storage import fact_tables
from qa_service.ui import labels


def test_dimensions_have_one_source():
    assert schema.DIMENSIONS is domain.DIMENSIONS and fact_tables.FACT_DIMENSIONS is domain.DIMENSIONS
    columns = {c.name for c in fact_tables.QaFact.__table__.columns}
    assert {f"dim_{d}" for d in domain.DIMENSIONS} | {f"final_{d}" for d in domain.DIMENSIONS} <= columns
    assert set(labels.DIMENSIONS) == set(domain.DIMENSIONS)  # each built-in one has its Chinese label


def test_the_performance_service_reads_the_dimensions_from_the_domain_not_storage():
    tree = ast.parse(inspect.getsource(performance_service))
    sources = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names if alias.name == "DIMENSIONS"}
    assert sources == {"qa_service.domain"}

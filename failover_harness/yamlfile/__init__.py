"""YAML input files: load with line numbers, and turn validation errors into InputErrors
that name file, line and field path (`playbooks/x.yaml:23: field 'method[1].interface': ...`).

reading.py reads and parses a file (the only I/O); document.py holds the parsed document and
its locations; validation.py words pydantic's errors (model_walk.py finds the allowed
fields); input_errors.py reports several errors at once. Everything is re-exported here.
"""

from failover_harness.yamlfile.document import (
    LoadedFromFile,
    Loc,
    Problem,
    YamlDocument,
    format_loc,
    resolve_loc,
    value_kind,
)
from failover_harness.yamlfile.input_errors import InputErrors, raise_all
from failover_harness.yamlfile.reading import MAX_FILE_BYTES, MAX_NODES, parse_yaml, read_yaml
from failover_harness.yamlfile.validation import ModelT, validate_document, validation_errors

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "InputErrors",
    "LoadedFromFile",
    "Loc",
    "ModelT",
    "Problem",
    "YamlDocument",
    "format_loc",
    "parse_yaml",
    "raise_all",
    "read_yaml",
    "resolve_loc",
    "validate_document",
    "validation_errors",
    "value_kind",
]

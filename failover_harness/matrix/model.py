"""The matrix file: cells of (lab design, playbook), validated like every other input file
(errors name file:line:field)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from failover_harness.errors import InputError
from failover_harness.lab.topology import LabOptions
from failover_harness.playbook.fields import Name
from failover_harness.yamlfile import LoadedFromFile, Problem, raise_all, read_yaml, validate_document


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cell(_Strict):
    name: Name
    design: str = Field(min_length=1)  # in words, for the table
    fault: str = Field(min_length=1)
    claim: str | None = None  # what the design is said to give (the seeds' claim)
    lab: LabOptions = Field(default_factory=LabOptions)  # `lab up` options of this design
    playbook: str = Field(min_length=1)  # relative to the matrix file
    guard_loss_s: float | None = Field(default=None, gt=0)  # run --guard-loss; None: the run's


class Matrix(_Strict, LoadedFromFile):
    name: str = "matrix"
    cells: list[Cell] = Field(min_length=1)

    def playbook_path(self, cell: Cell) -> Path:
        base = Path(self.source).parent if self.source else Path.cwd()
        return (base / cell.playbook).resolve()

    def only(self, names: list[str]) -> list[Cell]:
        """The cells named (all when none is), in the file's order."""
        unknown = sorted(set(names) - {c.name for c in self.cells})
        if unknown:
            raise InputError(f"no cell {', '.join(unknown)} in {self.source} (has "
                             f"{', '.join(c.name for c in self.cells)})", field="cell")
        return [c for c in self.cells if not names or c.name in names]


def load_matrix(path: str | Path) -> Matrix:
    """Read and validate a matrix file; every cell's playbook must load (its own errors name
    its own file and line)."""
    from failover_harness.playbook import load_playbook

    doc = read_yaml(path)
    matrix = validate_document(Matrix, doc)
    matrix.loaded_from(doc)
    problems: list[Problem] = []
    for name, count in Counter(c.name for c in matrix.cells).items():
        if count > 1:
            index = [c.name for c in matrix.cells].index(name)
            problems.append(Problem(("cells", index, "name"), f"cell '{name}' is listed {count} "
                                    "times"))
    errors: list[InputError] = []
    for i, cell in enumerate(matrix.cells):
        playbook = matrix.playbook_path(cell)
        if not playbook.is_file():
            problems.append(Problem(("cells", i, "playbook"), f"no playbook {playbook}"))
            continue
        try:
            load_playbook(playbook)
        except InputError as exc:
            errors.append(exc)
    raise_all([*doc.problems_error(problems), *errors])
    return matrix

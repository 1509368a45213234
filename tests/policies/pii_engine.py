"""A small, real detection engine for the [pii] engines tests: employee ids of one company."""

from __future__ import annotations

import re

from golden_path.policies import Finding

_EMPLOYEE = re.compile(r"\bEMP-\d{6}\b")


class EmployeeIds:
    """Finds ``EMP-`` and six digits, the shape of this company's staff numbers."""

    name = "employee-ids"
    kinds = frozenset({"employee_id"})

    def find(self, text: str, kinds: frozenset[str]) -> list[Finding]:
        if "employee_id" not in kinds or "EMP-" not in text:
            return []
        return [
            Finding("employee_id", m.start(), m.end(), self.name) for m in _EMPLOYEE.finditer(text)
        ]

"""Run history: every run's figures in an embedded SQLite index under the reports directory
(`reports/history.sqlite`), regressions against earlier runs of the same playbook and
inventory, and an OpenMetrics export of the latest figures for a dashboard.

- policy.py: the playbook's `regression:` field (no imports: events.py reads it);
- records.py: what one indexed run holds, taken from a report and its timeline;
- store.py: the database (schema version, migrations, WAL, one writer at a time);
- regression.py: the rule that flags a regression;
- record.py: indexing a rendered run (never fails the run);
- openmetrics.py: the textfile-collector export;
- cli.py: `report trend|compare --baseline|export|index` on the index.
"""

"""Reports rendered from a run's timeline.jsonl: report.json, report.html, report.md, junit.xml."""

"""One call of every tool, with arguments that work against `seed()`; the scope tests swap the repository."""

from __future__ import annotations

from typing import Any

APP = {"owner": "octo-org", "repo": "app"}

REPO_TOOLS: dict[str, dict[str, Any]] = {
    "get_repository": {},
    "get_file_contents": {"path": "src/app.py"},
    "get_repository_tree": {},
    "list_branches": {},
    "list_tags": {},
    "list_commits": {},
    "get_commit": {"sha": "main"},
    "compare_refs": {"base": "main", "head": "feature"},
    "list_issues": {},
    "get_issue": {"number": 1},
    "list_pull_requests": {},
    "get_pull_request": {"number": 2},
    "list_workflow_runs": {},
    "get_workflow_run": {"run_id": 1},
    "list_workflow_jobs": {"run_id": 1},
    "get_job_logs": {"job_id": 1},
    "list_code_scanning_alerts": {},
    "list_dependabot_alerts": {},
    "list_secret_scanning_alerts": {},
    "create_issue": {"title": "t"},
    "update_issue": {"number": 1, "title": "t"},
    "add_issue_comment": {"number": 1, "body": "b"},
    "close_issues": {"numbers": [1]},
    "create_branch": {"branch": "topic"},
    "create_or_update_file": {"path": "x.txt", "content": "x", "message": "m", "branch": "main"},
    "push_files": {"branch": "main", "files": [{"path": "x.txt", "content": "x"}], "message": "m"},
    "delete_branch": {"branch": "feature"},
    "create_pull_request": {"title": "t", "head": "feature", "base": "main"},
    "update_pull_request": {"number": 2, "title": "t"},
    "create_pull_request_review": {"number": 2, "event": "COMMENT"},
    "request_reviewers": {"number": 2, "reviewers": ["octocat"]},
    "merge_pull_request": {"number": 2},
    "rerun_workflow": {"run_id": 1},
}
"""Tools that name a repository, with their other arguments."""

SEARCH_TOOLS = ("search_repositories", "search_code", "search_issues", "search_pull_requests")
OTHER_TOOLS = ("get_me",)
ALL_TOOLS = sorted([*REPO_TOOLS, *SEARCH_TOOLS, *OTHER_TOOLS])

"""``cft init``: write a small, working ``.claude/`` project.

Why the text lives here rather than in package data: four short files are
easier to keep in step with the config loader (a test loads what we write)
than a resource folder the wheel build must remember to include.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._errors import ConfigError

__all__ = ["write_project"]

_AGENTS: dict[str, tuple[str, str]] = {
    "linter": (
        "Python lint review with fixes",
        """# Linter

You review Python code as ruff or pylint would, and explain each finding.

## Check
- unused imports and variables, shadowed builtins, mutable default arguments;
- bare `except:` or errors swallowed with `pass`;
- unreachable code, very long functions, deep nesting;
- outdated idioms (`%` formatting, manual counters, `os.path` string juggling).

Skip pure formatting a formatter would fix.

## Report
First line: `Lint: N errors, M warnings, K notes`. Then a table
`severity | location | rule | finding | fix`, most severe first, using ruff
codes (F401, B006, E722…) where they exist. If there is no code, say so.
""",
    ),
    "type-checker": (
        "Typing review as mypy --strict would do it",
        """# Type checker

You review Python type hints as `mypy --strict` would, and say why each
problem matters at run time.

## Check
- missing annotations on public functions; `Any` leaking from untyped calls;
- values that may be `None` used without a check;
- `list`/`dict` where `Sequence`/`Mapping` fits; `cast` hiding a real mismatch;
- coroutines never awaited; `# type: ignore` without a code.

## Report
`Typing: N issues`, then one numbered item per issue:
location, mypy error code, why it matters, and the corrected signature.
""",
    ),
    "security-scanner": (
        "Vulnerability scan: injection, secrets, traversal, crypto",
        """# Security scanner

You scan code for vulnerabilities and report like an auditor.

## Look for
- SQL/shell/template injection; `eval`/`exec` on input;
- `pickle` or `yaml.load` on untrusted data;
- path traversal and unsafe archive extraction;
- hard-coded secrets, `random` for tokens, `verify=False`.

## Report
`Security: C critical, H high, M medium, L low`, then for each finding:
severity, location, source → sink, and the fix. Never invent CVEs;
"no findings" is a valid answer.
""",
    ),
    "code-reviewer": (
        "Final review that weighs earlier findings and gives a verdict",
        """# Code reviewer

You give the final review. Earlier steps' reports appear under
"Output of step …": keep what matters, drop false positives with a reason.

## Review
- intent: does the change do what the task says; what is missing?
- design, correctness at the edges, error handling, tests.

## Report
`Verdict: APPROVE | APPROVE WITH SUGGESTIONS | REQUEST CHANGES`, then
**Blocking** (file:line, problem, suggestion), **Suggestions**, and
**From earlier steps**. Any blocking item means REQUEST CHANGES.
""",
    ),
}

_WORKFLOW: dict[str, Any] = {
    "description": "Lint, type-check and scan in parallel, then review",
    "task": "Review the code described below for quality before merge.",
    "timeout_s": 600,
    "on_failure": "fail_fast",
    "steps": [
        {"id": "lint", "agent": "linter", "task": "Run a Python lint review"},
        {"id": "types", "agent": "type-checker", "task": "Review typing"},
        {
            "id": "scan",
            "agent": "security-scanner",
            "task": "Scan for security issues",
            "timeout_s": 120,
        },
        {
            "id": "review",
            "agent": "code-reviewer",
            "task": "Final review based on findings",
            "dependencies": ["lint", "types", "scan"],
        },
    ],
}


def _files() -> dict[str, str]:
    """Relative path under ``.claude/`` → file text."""
    config = {
        "defaults": {"model": "sonnet", "max_tokens": 4096},
        "agents": {
            name: {"file": f"agents/{name}.md", "description": description}
            for name, (description, _) in _AGENTS.items()
        },
        "workflows": {"code-quality-check": _WORKFLOW},
        "cache": {"enabled": True, "backend": "disk", "ttl_hours": 24},
        "performance": {"max_concurrent_agents": 10},
    }
    files = {"claude.json": json.dumps(config, indent=2) + "\n"}
    files |= {f"agents/{name}.md": text for name, (_, text) in _AGENTS.items()}
    return files


def write_project(directory: Path, *, force: bool = False) -> list[Path]:
    """Write ``directory/.claude/`` with a config, four agents and one workflow.

    Every target is checked before anything is written, so a refusal leaves
    the folder exactly as it was.

    Args:
        directory: the project folder (created if missing).
        force: overwrite files that already exist.

    Returns:
        The paths written, ``claude.json`` first.

    Raises:
        ConfigError: naming the first existing file, when ``force`` is off.
    """
    base = Path(directory) / ".claude"
    targets = {base / rel: text for rel, text in _files().items()}
    if not force:
        for path in targets:
            if path.exists():
                raise ConfigError(str(path), "already exists (use --force to overwrite)")
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(targets)

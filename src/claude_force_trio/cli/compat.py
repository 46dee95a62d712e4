"""``cft compat install-shim | uninstall-shim | status``: Claude Force code, unchanged.

``install-shim`` writes a ``.pth`` file into a site directory; from then on,
in every interpreter of that environment, ``import claude_force`` (and its
``orchestrator``, ``async_orchestrator`` and ``hybrid_orchestrator`` modules)
is served by :mod:`claude_force_trio.compat`. It refuses when a real Claude
Force is installed, unless ``--overlay`` says to keep the real package and
replace only its orchestrator modules: shadowing it must be a choice.

It also writes a ``claude-force`` command (the alias over ``cft``, see
``cli/_alias.py``), but only where no ``claude-force`` exists: a console script
in this package's metadata would let ``pip`` overwrite a real Claude Force's
command without a word, so the alias is written here, checked first, and
removed by ``uninstall-shim`` only if it is ours.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import _shim
from .._errors import ConfigError
from . import _console
from ._app import JsonOption, command_group, handles_errors

__all__ = ["SCRIPT_MARK", "app", "shim_status"]

app = command_group("Claude Force 1.3 compatibility: the claude_force import alias.")

#: The line that marks a ``claude-force`` script as ours (uninstall removes only those).
SCRIPT_MARK = "# written by `cft compat install-shim` (claude-force-trio)"
_SCRIPT = f"""#!{{python}}
{SCRIPT_MARK}: the claude-force
# alias over cft. `cft compat uninstall-shim` removes it.
import sys

from claude_force_trio.cli._alias import main

sys.exit(main())
"""

TargetOption = Annotated[
    Path | None,
    typer.Option(
        "--target",
        metavar="DIR",
        help="Site directory for the .pth file (default: this interpreter's site-packages).",
    ),
]
ScriptsOption = Annotated[
    Path | None,
    typer.Option(
        "--scripts-dir",
        metavar="DIR",
        help="Where the claude-force command goes (default: this interpreter's scripts"
        " directory, unless --target is given).",
    ),
]


@dataclass(frozen=True, slots=True)
class ShimStatus:
    """What ``cft compat status`` reports (its ``--json`` document)."""

    pth: str
    installed: bool
    mode: str | None
    active: bool
    note: str
    site_dir: bool
    claude_force: dict[str, str | None] | None
    script: dict[str, Any] | None


def _site_dir(target: Path | None) -> Path:
    return target if target is not None else Path(sysconfig.get_paths()["purelib"])


def _scripts_dir(target: Path | None, scripts_dir: Path | None) -> Path | None:
    if scripts_dir is not None:
        return scripts_dir
    return Path(sysconfig.get_paths()["scripts"]) if target is None else None


def _real_claude_force(site: Path) -> dict[str, str | None] | None:
    """The real ``claude_force`` package this environment would import: path and version."""
    spec = _shim.find_real([str(site)]) or _shim.find_real()
    if spec is None or not spec.origin:
        return None
    origin = Path(spec.origin)
    return {"path": str(origin.parent), "version": _version_of(origin)}


def _version_of(init: Path) -> str | None:
    """The version of the package at ``init``: its dist-info, else its ``__version__`` line."""
    from importlib.metadata import distributions

    for dist in distributions(path=[str(init.parent.parent)]):
        if (dist.name or "").lower().replace("_", "-") == "claude-force":
            return dist.version
    try:
        match = re.search(r"""^__version__\s*=\s*["']([^"']+)""", init.read_text(), re.M)
    except (OSError, UnicodeDecodeError):
        return None
    return match.group(1) if match else None


def _is_site_dir(site: Path) -> bool:
    import site as site_module

    known = [*site_module.getsitepackages(), site_module.getusersitepackages(), *sys.path]
    resolved = site.resolve()
    return any(Path(p).resolve() == resolved for p in known if p)


def _script_info(where: Path | None) -> dict[str, Any] | None:
    if where is None:
        return None
    path = where / "claude-force"
    if not path.exists():
        return {"path": str(path), "exists": False, "ours": False}
    return {"path": str(path), "exists": True, "ours": _is_ours(path)}


def _is_ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            head = file.read(4096)
    except OSError:
        return False
    return SCRIPT_MARK in head


def _write(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` atomically; a failure is one error line naming the path."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.chmod(mode)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(str(path), f"cannot write: {exc.strerror or exc}") from None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot remove: {exc.strerror or exc}") from None


def shim_status(target: Path | None = None, scripts_dir: Path | None = None) -> ShimStatus:
    """Whether the alias is installed in ``target`` and would be active in a fresh interpreter.

    Args:
        target: the site directory holding the ``.pth`` (default: site-packages).
        scripts_dir: where to look for the ``claude-force`` command.
    """
    site = _site_dir(target)
    pth = site / _shim.PTH_NAME
    real = _real_claude_force(site)
    installed = pth.is_file()
    mode = _shim.pth_mode(pth.read_text(encoding="utf-8", errors="replace")) if installed else None
    site_dir = _is_site_dir(site)
    active, note = _activity(installed, mode, real, site_dir)
    return ShimStatus(
        pth=str(pth),
        installed=installed,
        mode=mode,
        active=active,
        note=note,
        site_dir=site_dir,
        claude_force=real,
        script=_script_info(_scripts_dir(target, scripts_dir)),
    )


def _activity(
    installed: bool, mode: str | None, real: dict[str, str | None] | None, site_dir: bool
) -> tuple[bool, str]:
    """Whether a fresh interpreter would serve ``claude_force`` from this package, and why."""
    if not installed:
        return False, "not installed"
    if mode is None:
        return False, "the .pth file was not written by this version: run install-shim again"
    if mode == "full" and real is not None:
        return False, (
            f"stepped aside: a real claude_force is installed at {real['path']};"
            " run install-shim --overlay to replace only its orchestrator modules"
        )
    if mode == "overlay" and real is None:
        return False, "overlay, but no real claude_force is installed: run install-shim again"
    where = "" if site_dir else " (this directory is not a site directory of this interpreter)"
    if mode == "overlay":
        return site_dir, f"overlay: claude_force's orchestrator modules come from here{where}"
    return site_dir, f"claude_force is served by claude_force_trio.compat{where}"


@app.command("install-shim")
@handles_errors
def install_shim(
    target: TargetOption = None,
    overlay: Annotated[
        bool,
        typer.Option(
            "--overlay",
            help="Keep a real claude_force and replace only its orchestrator modules.",
        ),
    ] = False,
    script: Annotated[
        bool,
        typer.Option(
            "--script/--no-script", help="Also write a claude-force command where none exists."
        ),
    ] = True,
    scripts_dir: ScriptsOption = None,
) -> None:
    """Make `import claude_force` run on this engine, in every interpreter of this environment."""
    site = _site_dir(target)
    real = _real_claude_force(site)
    if real is not None and not overlay:
        raise ConfigError(
            "install-shim",
            f"a real claude_force {real['version'] or ''} is installed at {real['path']};"
            " pass --overlay to replace only its orchestrator modules",
        )
    if real is None and overlay:
        raise ConfigError("--overlay", "no real claude_force is installed to overlay")
    pth = site / _shim.PTH_NAME
    mode: _shim.Mode = "overlay" if overlay else "full"
    _write(pth, _shim.pth_line(mode))
    _console.success(f"installed {pth} ({mode})")
    if script:
        _console.detail(_install_script(_scripts_dir(target, scripts_dir), real))


def _install_script(where: Path | None, real: dict[str, str | None] | None) -> str:
    """Write the ``claude-force`` alias where that is safe; say what was done."""
    if where is None:
        return "claude-force command: not written (give --scripts-dir with --target)"
    if real is not None:
        return "claude-force command: not written (the real Claude Force keeps its own)"
    path = where / "claude-force"
    if path.exists() and not _is_ours(path):
        return f"claude-force command: not written ({path} exists and is not ours)"
    found = shutil.which("claude-force")
    if found is not None and Path(found) != path and not _is_ours(Path(found)):
        return f"claude-force command: not written (another one is on PATH: {found})"
    if os.name == "nt":
        return "claude-force command: not written (not supported on Windows: use cft)"
    _write(path, _SCRIPT.format(python=sys.executable), mode=0o755)
    return f"claude-force command: {path}"


@app.command("uninstall-shim")
@handles_errors
def uninstall_shim(target: TargetOption = None, scripts_dir: ScriptsOption = None) -> None:
    """Remove the .pth file and, if it is ours, the claude-force command."""
    pth = _site_dir(target) / _shim.PTH_NAME
    removed = []
    if pth.is_file():
        _remove(pth)
        removed.append(str(pth))
    info = _script_info(_scripts_dir(target, scripts_dir))
    if info is not None and info["ours"]:
        _remove(Path(info["path"]))
        removed.append(info["path"])
    if removed:
        _console.success("removed " + ", ".join(removed))
    else:
        _console.detail(f"nothing to remove: no {_shim.PTH_NAME} in {pth.parent}")


@app.command("status")
@handles_errors
def status(
    target: TargetOption = None, scripts_dir: ScriptsOption = None, as_json: JsonOption = False
) -> None:
    """Is the alias installed and active; does it overlay a real Claude Force (which version)?"""
    report = shim_status(target, scripts_dir)
    if as_json:
        _console.print_json(asdict(report))
        return
    real = report.claude_force
    lines = [
        f"shim: {'active' if report.active else 'inactive'} ({report.note})",
        f"pth: {report.pth}" + ("" if report.installed else " (absent)"),
        "real claude_force: "
        + ("none" if real is None else f"{real['version'] or 'unknown version'} at {real['path']}"),
    ]
    if report.script is not None:
        kind = "ours" if report.script["ours"] else "not ours"
        exists = kind if report.script["exists"] else "absent"
        lines.append(f"claude-force command: {report.script['path']} ({exists})")
    _console.write("\n".join(lines) + "\n")

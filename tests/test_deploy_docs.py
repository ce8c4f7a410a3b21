"""The deployment files in deploy/ are what docs/deploy.md and the README point to (links, not
copies that could drift), and `python -m bot run --help` tells where they are."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.test_crash import ROOT

FILES = ("deploy/nginx/caunoi.conf", "deploy/systemd/caunoi-web@.service", "deploy/systemd/caunoi-worker.service")


def test_the_guide_and_the_readme_link_the_deployment_files_instead_of_copying_them() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in FILES:
        assert (ROOT / name).is_file(), name
        assert f"(../{name})" in guide and f"({name})" in readme, name
    assert "```nginx" not in guide and "```ini" not in guide
    assert "proxy_pass " not in guide and "\nExecStart=" not in guide


def test_run_help_names_the_proxy_settings_and_the_files() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "PUBLIC_BASE_URL" in text and "TRUSTED_PROXIES" in text and "deploy/" in text
    assert (ROOT / "deploy").is_dir() and (ROOT / "docs" / "deploy.md").is_file()

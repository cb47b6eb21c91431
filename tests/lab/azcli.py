"""The az CLI against the lab, as a user would run it.

azure-cli pins azure-core (~=1.39) and msal (==1.39) below what the project's venv has, so it
lives in a venv of its own: `.venv-azcli` in the repository (made with pip on first use,
about 2 minutes; FAILOVER_HARNESS_AZ_VENV points elsewhere). Every call gets a clean
environment: a lab-local AZURE_CONFIG_DIR, the lab CA through REQUESTS_CA_BUNDLE, and the App
Service identity variables, so nothing reaches a real cloud (and IMDS is never tried).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from failover_harness.lab.state import EmulatorState

REPO = Path(__file__).resolve().parents[2]
AZ_CLI_SPEC = "azure-cli>=2.60"
INSTALL_TIMEOUT_S = 1200
CLOUD = "FailoverLab"


def az_venv() -> Path:
    venv = Path(os.environ.get("FAILOVER_HARNESS_AZ_VENV", REPO / ".venv-azcli"))
    done = venv / ".azure-cli-installed"  # written last: a half-made venv is made again
    if not done.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", AZ_CLI_SPEC], check=True,
                       timeout=INSTALL_TIMEOUT_S)
        done.write_text(AZ_CLI_SPEC + "\n")
    return venv


class AzCli:
    def __init__(self, venv: Path, emulator: EmulatorState, config_dir: Path) -> None:
        self.az = str(venv / "bin" / "az")
        self.env = {
            "PATH": f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(config_dir),
            "LANG": "C.UTF-8", "AZURE_CONFIG_DIR": str(config_dir),
            "REQUESTS_CA_BUNDLE": emulator.ca_bundle,
            "IDENTITY_ENDPOINT": emulator.identity_endpoint,
            "IDENTITY_HEADER": Path(emulator.identity_header_file).read_text().strip(),
            "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_SURVEY_MESSAGE": "false",
            "AZURE_CORE_NO_COLOR": "true", "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
        }

    def run(self, *args: str, timeout_s: float = 180) -> str:
        done = subprocess.run([self.az, *args], env=self.env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise AssertionError(f"az {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")
        return done.stdout

    def json(self, *args: str, timeout_s: float = 180) -> object:
        return json.loads(self.run(*args, "-o", "json", timeout_s=timeout_s))

    def log_in(self, base_url: str) -> object:
        """The README's recipe: register the lab as a cloud, switch to it, log in with the identity."""
        self.run("cloud", "register", "-n", CLOUD, "--endpoint-resource-manager", base_url + "/")
        self.run("cloud", "set", "-n", CLOUD)
        return self.json("login", "--identity")

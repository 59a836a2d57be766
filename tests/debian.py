"""Debian packages the test run needs: installing one as root, and the one command to tell anyone else."""
from __future__ import annotations

import os
import subprocess


def is_root() -> bool:
    """Whether this process runs as root (and so may install packages)."""
    return os.geteuid() == 0


def install_command(package: str) -> str:
    """The one command that installs a Debian package for the current user."""
    return ("" if is_root() else "sudo ") + f"apt-get install -y {package}"


def apt_install(package: str) -> None:
    """Install a package with apt-get as root; the caller checks whether it arrived."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}  # nobody is there to answer a prompt
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, check=False)

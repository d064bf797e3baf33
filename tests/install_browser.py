"""Install what the dashboard's browser test drives: a Chromium (Debian's package), if none is
there. `.ci/run` runs this between the set-up and pytest; it never fails the set-up: where no
Chromium can be installed it says so loudly, and the browser test is skipped with the same words.

    python tests/install_browser.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import CHROMIUM_ENV, chromium_path  # noqa: E402


def apt_get(*args: str) -> bool:
    """`apt-get ARGS` as root (directly, or through sudo without a password); True if it ran
    and succeeded."""
    if shutil.which("apt-get") is None:
        return False
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return False
        prefix = ["sudo", "-n"]
    command = [*prefix, "apt-get", *args]
    print("+", " ".join(command), flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode == 0


def main() -> int:
    found = chromium_path()
    if found is None and shutil.which("apt-get"):
        installed = apt_get("install", "-y", "-q", "chromium")
        if not installed and apt_get("update", "-q"):  # a fresh machine's empty package lists
            apt_get("install", "-y", "-q", "chromium")
        found = chromium_path()
    if found:
        print(f"Chromium for the browser test: {found}")
        return 0
    bar = "!" * 78
    print(
        f"{bar}\nWARNING: no Chromium, and none could be installed here (Debian's `chromium` "
        f"package needs apt-get and root).\nThe browser test "
        f"(tests/kit/test_dashboard_browser.py) will be SKIPPED. Install a Chromium, or set "
        f"${CHROMIUM_ENV} to one.\n{bar}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

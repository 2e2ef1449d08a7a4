"""The permissions a new file gets under the process umask.

Atomic writes go through `tempfile.mkstemp`, which creates files with mode 0600; the renamed result should
have the mode any other new file would (usually 0644), so writers apply this to the temporary file.
"""

from __future__ import annotations

import os


def umask_file_mode() -> int:
    """0o666 without the bits the current umask removes."""
    try:
        with open("/proc/self/status") as status:  # Linux: read the umask without changing it
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask

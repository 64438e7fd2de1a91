#!/usr/bin/env python
import os
import sys

# Exit status when the reader of stdout went away (`predict --json | head -1`): 128 + SIGPIPE, what
# the shell reports for a program the signal stopped (`yes | head -1`), so a `set -o pipefail`
# script sees the same as for any other tool cut short — the command did not finish its output.
BROKEN_PIPE_EXIT = 141


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")
    from django.core.management import execute_from_command_line

    try:
        try:
            execute_from_command_line(sys.argv)
        finally:
            # Inside the try: output still buffered would otherwise fail in the interpreter's exit
            # flush, outside any handler ("Exception ignored … BrokenPipeError").
            sys.stdout.flush()
    except BrokenPipeError:
        # Every command, the project's and Django's, in one place. Python ignores SIGPIPE and
        # raises instead; restoring the default handler would also kill the process on a write to
        # a dropped database or Redis socket, so the error is caught here. stdout now points at
        # /dev/null: Python flushes it once more at exit, and that flush must not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(BROKEN_PIPE_EXIT)


if __name__ == "__main__":
    main()

import sys

from .forkserver import enabled, run_in_server

status = run_in_server(sys.argv[1:]) if enabled() and sys.argv[1:2] not in (["-h"], ["--help"], ["--version"]) else None
if status is None:
    from .cli import main

    status = main()
sys.exit(status)

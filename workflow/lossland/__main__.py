"""`python -m lossland` and the `lossland` command: a job of the workflow (cli, through the fork server where it
runs), or `estimate`, what a config costs before it runs."""

import sys


def main() -> int:
    from .forkserver import enabled, run_in_server

    argv = sys.argv[1:]
    if argv[:1] == ["estimate"]:  # not a job: never in the server
        from .estimate import command

        return command(argv[1:])
    status = run_in_server(argv) if enabled() and argv[:1] not in (["-h"], ["--help"], ["--version"]) else None
    if status is None:
        from .cli import main as job

        status = job()
    return status


if __name__ == "__main__":
    sys.exit(main())

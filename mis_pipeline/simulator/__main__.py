"""`python -m mis_pipeline.simulator`: the same simulator the CLI's `simulator serve` starts."""

from __future__ import annotations

import argparse

from mis_pipeline.simulator import server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mis_pipeline.simulator", description="Serve a simulated Wonde API.")
    parser.add_argument("--host", default=server.DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=server.DEFAULT_PORT)
    parser.add_argument("--schools", type=int, default=server.DEFAULT_SCHOOLS)
    parser.add_argument("--pupils-per-school", type=int, default=server.DEFAULT_PUPILS)
    parser.add_argument("--seed", type=int, default=server.DEFAULT_SEED)
    parser.add_argument("--token", default=server.DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    server.serve(args.host, args.port, args.schools, args.pupils_per_school, args.seed, args.token)


if __name__ == "__main__":
    main()

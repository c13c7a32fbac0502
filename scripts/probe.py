#!/usr/bin/env python3
"""Exit 0 when every URL given answers HTTP 200, else 1. `--verbose` prints one line per URL.

The health/readiness check shared by scripts/demo.sh (is the stack up?) and scripts/test_services.sh
(smoke test of a deployment)."""

from __future__ import annotations

import sys

import httpx


def status(url: str, timeout: float) -> str:
    try:
        return str(httpx.get(url, timeout=timeout).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


def main(argv: list[str]) -> int:
    verbose = "--verbose" in argv
    urls = [arg for arg in argv if arg != "--verbose"]
    healthy = True
    for url in urls:
        answer = status(url, timeout=5 if verbose else 2)
        if verbose:
            print(f"  {url:<50} {answer}")
        if answer != "200":
            healthy = False
            if verbose:
                print(f"FAILED: {url} answered {answer}", file=sys.stderr)
            else:
                break
    return 0 if healthy and urls else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

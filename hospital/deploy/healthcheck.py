"""Container health check for the web process: GET /healthz through nginx on $PORT.

Exit 0 when it answers 200 (the processes run and the database answers), else 1. nginx sends
/healthz to gunicorn with a Host that Django accepts, so any address works here.
"""

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8080')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

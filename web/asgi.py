"""The ASGI entry point for uvicorn: `uvicorn web.asgi:app`."""

from threadpoolctl import threadpool_limits

from web.app import create_app
from web.logs import configure

# One BLAS thread per server process: a request's matrix products are small,
# and threaded BLAS on a busy 2-core machine multiplied p99 latency several
# times in bench/recommend_scale.py. Scale with --workers instead.
threadpool_limits(limits=1, user_api="blas")
configure()
app = create_app()

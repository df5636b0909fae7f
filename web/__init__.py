"""FastAPI app: JSON API for apps and analysts, Jinja2 pages for people."""

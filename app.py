"""WSGI entry point: `flask --app app ...` and `gunicorn app:app` both load this."""
from crm import create_app

app = create_app()

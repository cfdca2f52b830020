"""Code the tests share (no tests here): helpers, fixtures imported by name, the Airflow and Celery stacks."""

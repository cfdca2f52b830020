"""Task code of the example DAGs gong_crm_sync and gong_crm_setup (imported lazily by the tasks).

Only :mod:`gong_crm_lib.settings` is imported when the DAG files are parsed: it reads nothing
but environment variables, so parsing stays free of I/O.
"""

"""The sync and setup DAGs, shipped in the package: a three-line file in your dags folder adopts one.

::

    # Airflow DAG: Gong CRM sync (Airflow's safe mode parses files that mention "airflow" and "dag")
    from gong_provider.dags import gong_crm_sync_dag
    dag = gong_crm_sync_dag()

Building a DAG reads only environment variables (see :mod:`gong_provider.dags.settings`); the task
code (:mod:`~gong_provider.dags.stage`, :mod:`~gong_provider.dags.summary`,
:mod:`~gong_provider.dags.report`, :mod:`~gong_provider.dags.sources`) is imported by the tasks at run
time, so parsing stays free of I/O and fast.
"""

from __future__ import annotations

from gong_provider.dags.setup_dag import gong_crm_setup_dag
from gong_provider.dags.sync_dag import gong_crm_sync_dag

__all__ = ["gong_crm_setup_dag", "gong_crm_sync_dag"]

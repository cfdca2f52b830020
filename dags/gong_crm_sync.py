"""Airflow DAG gong_crm_sync, as shipped in the provider (gong_provider.dags), reading this repo's
sample CRM export (dags/data) unless GONG_CRM_SOURCE or the run's source Param names another."""

from pathlib import Path

from gong_provider.dags import gong_crm_sync_dag

dag = gong_crm_sync_dag(fallback_source=str(Path(__file__).resolve().parent / "data"))

"""Airflow DAG gong_crm_setup, as shipped in the provider (gong_provider.dags), writing this repo's
sample custom-field schema (dags/data/schema.json) unless GONG_CRM_SCHEMA_FILE names another."""

from pathlib import Path

from gong_provider.dags import gong_crm_setup_dag

dag = gong_crm_setup_dag(fallback_schema_file=str(Path(__file__).resolve().parent / "data" / "schema.json"))

# Airflow 3.3 with the Gong provider installed from this build context.
# Used by docker-compose.yaml for every Airflow service and for the Gong CRM API emulator.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2
FROM ${AIRFLOW_IMAGE}

# Folders that named volumes are mounted on: created here so that the volumes start owned by airflow.
USER root
RUN mkdir -p /data /opt/airflow/gong-staging \
    && chown -R airflow:0 /data /opt/airflow/gong-staging
USER airflow

COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow-provider-gong/
COPY --chown=airflow:0 gong_provider /opt/airflow-provider-gong/gong_provider

# Pin the image's own Airflow version so that pip never up- or downgrades it while resolving.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/airflow-provider-gong[redis]"

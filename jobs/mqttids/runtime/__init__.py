"""The runtime every stage shares: settings (config), the database URL and connections (db), the
Spark session (spark), files as Spark's Hadoop FileSystem sees them (hadoop_files), the embedded
PostgreSQL and Kafka that make the platform run with no servers (embedded_db, embedded_kafka,
service_cli), Kafka clients (broker), Secret Manager (gcp_secret) and the command-line
conventions of the jobs (cli). It imports no stage.
"""

-- The warehouse DDL of the last release before migrations (git 26cfef2), frozen for the upgrade
-- tests: tables.DDL, registry.DDL, champion.DDL, stream_tables.DDL and the analytics ddl(out) of
-- every output table, in that order, exactly as that release's ensure_tables() and
-- analytics.write() executed them. Generated once from that commit; never edit it.
CREATE SCHEMA IF NOT EXISTS mqtt;

CREATE TABLE IF NOT EXISTS mqtt.packets (
  batch_date date NOT NULL,
  split text NOT NULL,
  source_file text NOT NULL,
  part_no integer NOT NULL,
  tcp_flags smallint NOT NULL,
  tcp_time_delta double precision NOT NULL,
  tcp_len integer NOT NULL,
  mqtt_conack_flags smallint NOT NULL,
  mqtt_conack_flags_reserved smallint NOT NULL,
  mqtt_conack_flags_sp smallint NOT NULL,
  mqtt_conack_val smallint NOT NULL,
  mqtt_conflag_cleansess smallint NOT NULL,
  mqtt_conflag_passwd smallint NOT NULL,
  mqtt_conflag_qos smallint NOT NULL,
  mqtt_conflag_reserved smallint NOT NULL,
  mqtt_conflag_retain smallint NOT NULL,
  mqtt_conflag_uname smallint NOT NULL,
  mqtt_conflag_willflag smallint NOT NULL,
  mqtt_conflags smallint NOT NULL,
  mqtt_dupflag smallint NOT NULL,
  mqtt_hdrflags smallint NOT NULL,
  mqtt_kalive integer NOT NULL,
  mqtt_len integer NOT NULL,
  mqtt_msg text NOT NULL,
  mqtt_msgid integer NOT NULL,
  mqtt_msgtype smallint NOT NULL,
  mqtt_proto_len integer NOT NULL,
  mqtt_protoname text NOT NULL,
  mqtt_qos smallint NOT NULL,
  mqtt_retain smallint NOT NULL,
  mqtt_sub_qos smallint NOT NULL,
  mqtt_suback_qos smallint NOT NULL,
  mqtt_ver smallint NOT NULL,
  mqtt_willmsg double precision NOT NULL,
  mqtt_willmsg_len integer NOT NULL,
  mqtt_willtopic double precision NOT NULL,
  mqtt_willtopic_len integer NOT NULL,
  target text NOT NULL,
  CHECK (split IN ('train', 'test')),
  CHECK (tcp_flags >= 0 AND tcp_flags <= 4095),
  CHECK (tcp_time_delta >= -1),
  CHECK (tcp_len >= 0 AND tcp_len <= 65535),
  CHECK (mqtt_conack_flags >= 0 AND mqtt_conack_flags <= 255),
  CHECK (mqtt_conack_flags_reserved >= 0 AND mqtt_conack_flags_reserved <= 1),
  CHECK (mqtt_conack_flags_sp >= 0 AND mqtt_conack_flags_sp <= 1),
  CHECK (mqtt_conack_val >= 0 AND mqtt_conack_val <= 255),
  CHECK (mqtt_conflag_cleansess >= 0 AND mqtt_conflag_cleansess <= 1),
  CHECK (mqtt_conflag_passwd >= 0 AND mqtt_conflag_passwd <= 1),
  CHECK (mqtt_conflag_qos >= 0 AND mqtt_conflag_qos <= 3),
  CHECK (mqtt_conflag_reserved >= 0 AND mqtt_conflag_reserved <= 1),
  CHECK (mqtt_conflag_retain >= 0 AND mqtt_conflag_retain <= 1),
  CHECK (mqtt_conflag_uname >= 0 AND mqtt_conflag_uname <= 1),
  CHECK (mqtt_conflag_willflag >= 0 AND mqtt_conflag_willflag <= 1),
  CHECK (mqtt_conflags >= 0 AND mqtt_conflags <= 255),
  CHECK (mqtt_dupflag >= 0 AND mqtt_dupflag <= 1),
  CHECK (mqtt_hdrflags >= 0 AND mqtt_hdrflags <= 255),
  CHECK (mqtt_kalive >= 0 AND mqtt_kalive <= 65535),
  CHECK (mqtt_len >= 0 AND mqtt_len <= 268435455),
  CHECK (mqtt_msgid >= 0 AND mqtt_msgid <= 65535),
  CHECK (mqtt_msgtype >= 0 AND mqtt_msgtype <= 15),
  CHECK (mqtt_proto_len >= 0 AND mqtt_proto_len <= 65535),
  CHECK (mqtt_qos >= 0 AND mqtt_qos <= 3),
  CHECK (mqtt_retain >= 0 AND mqtt_retain <= 1),
  CHECK (mqtt_sub_qos >= 0 AND mqtt_sub_qos <= 3),
  CHECK (mqtt_suback_qos >= 0 AND mqtt_suback_qos <= 255),
  CHECK (mqtt_ver >= 0 AND mqtt_ver <= 255),
  CHECK (mqtt_willmsg_len >= 0 AND mqtt_willmsg_len <= 65535),
  CHECK (mqtt_willtopic_len >= 0 AND mqtt_willtopic_len <= 65535),
  CHECK (target IN ('legitimate', 'dos', 'bruteforce', 'malformed', 'slowite', 'flood'))
) PARTITION BY LIST (batch_date);
COMMENT ON TABLE mqtt.packets IS
  'MQTTset packets, typed; one partition per ingest batch (batch_date).';

CREATE TABLE IF NOT EXISTS mqtt.rejected_rows (
  batch_date date NOT NULL,
  split text NOT NULL,
  source_file text NOT NULL,
  raw_line text NOT NULL,
  reason text NOT NULL,
  rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rejected_rows_batch ON mqtt.rejected_rows (batch_date);
COMMENT ON TABLE mqtt.rejected_rows IS
  'Rows that failed parsing or constraints, verbatim, with the reason.';

CREATE TABLE IF NOT EXISTS mqtt.ingest_batches (
  batch_date date PRIMARY KEY,
  sources text[] NOT NULL,
  rows_read bigint NOT NULL,
  rows_loaded bigint NOT NULL,
  rows_rejected bigint NOT NULL,
  seconds double precision NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mqtt.ingest_batches IS 'One row per loaded batch: what was read, loaded and rejected.';

CREATE SCHEMA IF NOT EXISTS mqtt;
CREATE TABLE IF NOT EXISTS mqtt.model_runs (
  run_id text NOT NULL,
  model text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('spark', 'keras')),
  params jsonb NOT NULL,
  grid jsonb NOT NULL,
  cv_metric text NOT NULL,
  cv_score double precision NOT NULL,
  cv_folds integer NOT NULL,
  cv_seconds double precision NOT NULL,
  fit_seconds double precision NOT NULL,
  tune_rows bigint NOT NULL,
  train_rows bigint NOT NULL,
  test_rows bigint NOT NULL,
  artifact_uri text NOT NULL,
  features_uri text NOT NULL,
  batch_from date,
  batch_to date,
  test_fingerprint text NOT NULL,
  plot_uri text NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, model)
);
COMMENT ON TABLE mqtt.model_runs IS
  'Every trained model: chosen params, CV score, times, artifact, data batches.';
CREATE TABLE IF NOT EXISTS mqtt.model_metrics (
  run_id text NOT NULL,
  model text NOT NULL,
  subset text NOT NULL CHECK (subset IN ('test', 'unseen')),
  metric text NOT NULL,
  label text NOT NULL,
  value double precision NOT NULL,
  PRIMARY KEY (run_id, model, subset, metric, label),
  FOREIGN KEY (run_id, model) REFERENCES mqtt.model_runs ON DELETE CASCADE
);
COMMENT ON TABLE mqtt.model_metrics IS
  'Scores per model: label ''all'' for accuracy, macro_f1, weighted_f1 and rows; '
  'a class for precision, recall, f1 and support.';
CREATE TABLE IF NOT EXISTS mqtt.confusion_matrix (
  run_id text NOT NULL,
  model text NOT NULL,
  subset text NOT NULL CHECK (subset IN ('test', 'unseen')),
  actual text NOT NULL,
  predicted text NOT NULL,
  rows bigint NOT NULL,
  PRIMARY KEY (run_id, model, subset, actual, predicted),
  FOREIGN KEY (run_id, model) REFERENCES mqtt.model_runs ON DELETE CASCADE
);
COMMENT ON TABLE mqtt.confusion_matrix IS
  'Confusion matrices in long form: rows of class actual predicted as predicted.';
CREATE TABLE IF NOT EXISTS mqtt.feature_columns (
  run_id text NOT NULL,
  column_name text NOT NULL,
  action text NOT NULL CHECK (action IN ('kept', 'dropped')),
  reason text NOT NULL,
  PRIMARY KEY (run_id, column_name)
);
COMMENT ON TABLE mqtt.feature_columns IS
  'Which MQTTset columns a learning run fed its models, and why others were dropped.';

CREATE SCHEMA IF NOT EXISTS mqtt;
CREATE TABLE IF NOT EXISTS mqtt.champion (
  slot text PRIMARY KEY,
  run_id text NOT NULL,
  model text NOT NULL,
  macro_f1 double precision NOT NULL,
  test_fingerprint text NOT NULL,
  reason text NOT NULL,
  promoted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mqtt.champion IS 'The model currently served, per slot; replaced only by a better challenger.';
CREATE TABLE IF NOT EXISTS mqtt.champion_decisions (
  decided_at timestamptz NOT NULL DEFAULT now(),
  slot text NOT NULL,
  run_id text NOT NULL,
  model text NOT NULL,
  challenger_macro_f1 double precision NOT NULL,
  champion_run_id text,
  champion_model text,
  champion_macro_f1 double precision,
  promoted boolean NOT NULL,
  reason text NOT NULL
);
COMMENT ON TABLE mqtt.champion_decisions IS
  'Every champion/challenger decision, with the scores compared and the reason.';

CREATE SCHEMA IF NOT EXISTS mqtt;

CREATE TABLE IF NOT EXISTS mqtt.tweet_stream_runs (
  run_id text PRIMARY KEY,
  terms text[] NOT NULL,
  plurals boolean NOT NULL,
  english_only text[] NOT NULL,
  window_seconds integer NOT NULL CHECK (window_seconds > 0),
  source text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  attempt text NOT NULL,
  published bigint,
  produced_at timestamptz
);
COMMENT ON TABLE mqtt.tweet_stream_runs IS
  'One row per tweet-stream run: what it counts; published is set when the producer ends.';

CREATE TABLE IF NOT EXISTS mqtt.tweets (
  run_id text NOT NULL REFERENCES mqtt.tweet_stream_runs,
  tweet_id text NOT NULL,
  text text NOT NULL,
  created_at timestamptz NOT NULL,
  author_id text,
  lang text,
  matching_rules text[] NOT NULL,
  mentions jsonb NOT NULL,
  window_start timestamptz NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset bigint NOT NULL,
  published_at timestamptz NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (run_id, tweet_id)
);
COMMENT ON TABLE mqtt.tweets IS
  'Every tweet the stream delivered, once per run, with its mentions per term (audit).';

CREATE TABLE IF NOT EXISTS mqtt.tweet_term_counts (
  run_id text NOT NULL REFERENCES mqtt.tweet_stream_runs,
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  term text NOT NULL,
  count bigint NOT NULL CHECK (count >= 0),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (run_id, window_start, term)
);
COMMENT ON TABLE mqtt.tweet_term_counts IS
  'Mentions of each term per run and fixed window of created_at (zero rows for windows with tweets).';

CREATE TABLE IF NOT EXISTS mqtt.tweet_stream_offsets (
  consumer text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, topic, kafka_partition)
);
COMMENT ON TABLE mqtt.tweet_stream_offsets IS
  'Committed Kafka offsets of the tweet consumer, stored with the rows they cover.';

CREATE TABLE IF NOT EXISTS mqtt.tweet_stream_ends (
  run_id text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  partitions integer NOT NULL,
  PRIMARY KEY (run_id, topic, kafka_partition)
);
COMMENT ON TABLE mqtt.tweet_stream_ends IS 'End-of-run markers the consumer has read, one per partition.';

CREATE SCHEMA IF NOT EXISTS mqtt;

CREATE TABLE IF NOT EXISTS mqtt.avg_mqtt_len (
  run_id text NOT NULL,
  batch_from date NOT NULL,
  batch_to date NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  split text NOT NULL,
  packets bigint NOT NULL,
  avg_mqtt_len double precision NOT NULL,
  PRIMARY KEY (run_id, split)
);
COMMENT ON TABLE mqtt.avg_mqtt_len IS 'Average mqtt.len per split, and over all splits.';
COMMENT ON COLUMN mqtt.avg_mqtt_len.run_id IS 'The analytics run that computed the row; a rerun replaces its rows.';
COMMENT ON COLUMN mqtt.avg_mqtt_len.batch_from IS 'First batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.avg_mqtt_len.batch_to IS 'Last batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.avg_mqtt_len.computed_at IS 'When the run wrote the row.';
COMMENT ON COLUMN mqtt.avg_mqtt_len.split IS 'train, test, or all (train + test).';
COMMENT ON COLUMN mqtt.avg_mqtt_len.packets IS 'Packets counted.';
COMMENT ON COLUMN mqtt.avg_mqtt_len.avg_mqtt_len IS 'Mean mqtt.len (0 when no MQTT layer).';

CREATE TABLE IF NOT EXISTS mqtt.avg_tcp_len_by_target (
  run_id text NOT NULL,
  batch_from date NOT NULL,
  batch_to date NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  split text NOT NULL,
  target text NOT NULL,
  packets bigint NOT NULL,
  avg_tcp_len double precision NOT NULL,
  PRIMARY KEY (run_id, split, target)
);
COMMENT ON TABLE mqtt.avg_tcp_len_by_target IS 'Average tcp.len per split and target.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.run_id IS 'The analytics run that computed the row; a rerun replaces its rows.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.batch_from IS 'First batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.batch_to IS 'Last batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.computed_at IS 'When the run wrote the row.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.split IS 'train, test, or all (train + test).';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.target IS 'Class label, as found in the data.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.packets IS 'Packets counted.';
COMMENT ON COLUMN mqtt.avg_tcp_len_by_target.avg_tcp_len IS 'Mean tcp.len of the class.';

CREATE TABLE IF NOT EXISTS mqtt.top_tcp_flags (
  run_id text NOT NULL,
  batch_from date NOT NULL,
  batch_to date NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  split text NOT NULL,
  top_x integer NOT NULL,
  rank integer NOT NULL,
  tcp_flags integer NOT NULL,
  tcp_flags_hex text NOT NULL,
  packets bigint NOT NULL,
  PRIMARY KEY (run_id, split, tcp_flags)
);
COMMENT ON TABLE mqtt.top_tcp_flags IS 'The top_x most frequent tcp.flags per split; flags tied at rank top_x are all kept.';
COMMENT ON COLUMN mqtt.top_tcp_flags.run_id IS 'The analytics run that computed the row; a rerun replaces its rows.';
COMMENT ON COLUMN mqtt.top_tcp_flags.batch_from IS 'First batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.top_tcp_flags.batch_to IS 'Last batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.top_tcp_flags.computed_at IS 'When the run wrote the row.';
COMMENT ON COLUMN mqtt.top_tcp_flags.split IS 'train, test, or all (train + test).';
COMMENT ON COLUMN mqtt.top_tcp_flags.top_x IS 'How many ranks were asked for.';
COMMENT ON COLUMN mqtt.top_tcp_flags.rank IS 'SQL rank(): tied flags share a rank, the next rank is skipped.';
COMMENT ON COLUMN mqtt.top_tcp_flags.tcp_flags IS 'The flags value.';
COMMENT ON COLUMN mqtt.top_tcp_flags.tcp_flags_hex IS 'The flags as shown to people (0x18).';
COMMENT ON COLUMN mqtt.top_tcp_flags.packets IS 'Packets counted.';

CREATE TABLE IF NOT EXISTS mqtt.class_histogram (
  run_id text NOT NULL,
  batch_from date NOT NULL,
  batch_to date NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  split text NOT NULL,
  target text NOT NULL,
  packets bigint NOT NULL,
  share double precision NOT NULL,
  PRIMARY KEY (run_id, split, target)
);
COMMENT ON TABLE mqtt.class_histogram IS 'Packets per split and target, and the target''s share of the split.';
COMMENT ON COLUMN mqtt.class_histogram.run_id IS 'The analytics run that computed the row; a rerun replaces its rows.';
COMMENT ON COLUMN mqtt.class_histogram.batch_from IS 'First batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.class_histogram.batch_to IS 'Last batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.class_histogram.computed_at IS 'When the run wrote the row.';
COMMENT ON COLUMN mqtt.class_histogram.split IS 'train, test, or all (train + test).';
COMMENT ON COLUMN mqtt.class_histogram.target IS 'Class label, as found in the data.';
COMMENT ON COLUMN mqtt.class_histogram.packets IS 'Packets counted.';
COMMENT ON COLUMN mqtt.class_histogram.share IS 'packets / packets of the split.';

CREATE TABLE IF NOT EXISTS mqtt.top_hdrflags_by_target (
  run_id text NOT NULL,
  batch_from date NOT NULL,
  batch_to date NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  split text NOT NULL,
  target text NOT NULL,
  mqtt_hdrflags integer NOT NULL,
  mqtt_hdrflags_hex text NOT NULL,
  packets bigint NOT NULL,
  share double precision NOT NULL,
  PRIMARY KEY (run_id, split, target, mqtt_hdrflags)
);
COMMENT ON TABLE mqtt.top_hdrflags_by_target IS 'The most frequent mqtt.hdrflags per split and target (0 = no MQTT layer); ties all kept.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.run_id IS 'The analytics run that computed the row; a rerun replaces its rows.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.batch_from IS 'First batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.batch_to IS 'Last batch_date of mqtt.packets that was read.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.computed_at IS 'When the run wrote the row.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.split IS 'train, test, or all (train + test).';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.target IS 'Class label, as found in the data.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.mqtt_hdrflags IS 'The MQTT fixed-header flags value.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.mqtt_hdrflags_hex IS 'The flags as shown to people (0x30).';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.packets IS 'Packets counted.';
COMMENT ON COLUMN mqtt.top_hdrflags_by_target.share IS 'packets / packets of the split and target.';


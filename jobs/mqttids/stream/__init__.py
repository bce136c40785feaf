"""The tweet stream: posts naming the attacks flow from the X API (or its local stand-in, see
``mqttids.xapi``) through Kafka (tweet_producer) into per-term counts stored with their
offsets in one transaction (tweet_consumer, tables), counted by the same rules everywhere
(terms), and drawn as a bar chart (chart).
"""

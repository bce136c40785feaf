"""A local stand-in for the X API v2 filtered stream, so the real tweepy client code runs on a
machine that cannot reach X: the HTTP server and its rules endpoints (replay), X's rule
syntax (rules), and the hand-written posts it replays (tweet_sample, sample_tweets.jsonl).
"""

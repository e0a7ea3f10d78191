"""Trust features of jobs: consent recorded with a job, moderation of inputs and outputs, AI-generated labels,
retention and the purge (docs/privacy.md).

Campaigns own their settings; they hand them down as a `TrustPolicy` (policy.py), like the campaign
rules of jobs.limits, so jobs never imports campaigns.
"""

"""The jobs app's admin: jobs, GPU backends, test runs from the template admin, and the moderation's review queue."""

from comfyweb.jobs.admin import jobs, review, test_runs  # noqa: F401 - registers the model admins

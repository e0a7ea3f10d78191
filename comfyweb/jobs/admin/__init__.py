"""The jobs app's admin: jobs, GPU backends, and test runs from the template admin."""

from comfyweb.jobs.admin import jobs, test_runs  # noqa: F401 - registers the model admins

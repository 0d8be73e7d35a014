"""Operators' admin for jobs and runs. Every write goes through jobs.services.

A package so no module outgrows the house limit; Django's autodiscovery imports only
`jobs.admin`, so importing the submodules here is what registers their ModelAdmins.
"""

from jobs.admin.grants import DataGrantAdmin
from jobs.admin.history import AlertAdmin, JobVersionAdmin
from jobs.admin.job import JobAdmin
from jobs.admin.run import JobRunAdmin

__all__ = ["AlertAdmin", "DataGrantAdmin", "JobAdmin", "JobRunAdmin", "JobVersionAdmin"]

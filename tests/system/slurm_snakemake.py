"""`python -m snakemake` for the test cluster: the SLURM plugin's status checks kept at their first interval.

The plugin waits 10 s longer after each round of checks in which no job finished (kind to a real cluster's
controller, up to 3 minutes); the one-node test cluster's jobs take seconds, so its tests would mostly wait. Only
the polling cadence changes: what is submitted, and how, is the plugin's own."""

import sys

import snakemake_executor_plugin_slurm as slurm
from snakemake.cli import main

checks = slurm.Executor.check_active_jobs


async def check_active_jobs(self, active_jobs):
    async for job in checks(self, active_jobs):
        yield job
    self.next_seconds_between_status_checks = self.workflow.executor_settings.init_seconds_before_status_checks


slurm.Executor.check_active_jobs = check_active_jobs
sys.exit(main())

"""Scheduler: business calendar, response targets and inactivity sweeps.

Not built yet: the scheduler issue adds business_time.py, sla.py, jobs.py and
runner.py here (see STYLE.md, "The house").
"""

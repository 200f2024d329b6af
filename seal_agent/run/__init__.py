"""What every run shares, whatever its domain: the run directory's files (`directory`),
the lock that keeps two processes out of one directory (`lock`), the trace store
(`traces`) and the seeds derived from the run's seed (`seeding`).
"""

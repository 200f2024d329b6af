"""What every run shares, whatever its domain: the run directory's files, creating and
reopening one (`directory`), the lock that keeps two processes out of one directory
(`lock`), driving a graph to the end under the directory's checkpointer (`driver`), the
trace store (`traces`) and the seeds derived from the run's seed (`seeding`).

Every file a run writes is written whole or not at all (a temporary name, then a rename),
so a run killed at any moment resumes from its last completed graph step.
"""

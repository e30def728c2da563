"""Upscaling jobs: many inputs, one or many processes, every outcome accounted for.

    inputs.py   files, folders (trees) and globs → input files, and why anything named was left out
    plan.py     inputs → jobs (where each result goes), outputs already there, two inputs for one output
    shard.py    which share of the jobs this process takes under torchrun or Slurm
    report.py   each job's outcome, the summary and the optional JSON-lines report
    images.py   images through one Upscaler, decode and encode overlapped with the network
    run.py      a list of jobs, images then videos, in this process
    pool.py     the same jobs over several worker processes (one per device), pulling from one queue
"""

"""The world model W = (T-hat, R-hat, G-hat, C-hat) beyond the dynamics network: the bundle that
holds it in one directory (bundle.py), observables and their ensemble estimates (observables.py),
the cost model C-hat (cost.py) and the task distribution G-hat (tasks.py)."""

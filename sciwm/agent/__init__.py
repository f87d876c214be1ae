"""The agent: cost-aware Bayesian optimisation over interventions that plans on the world model
and pays for reference MD only when it must.

config (YAML campaigns, validated before any compute), objective (loss, constraints, observable
names), surrogate (tinygp Gaussian processes; the world model as low-fidelity prior mean),
acquisition (EI, EI per predicted cost, UCB, kriging-believer batches), planner (a round's
proposals from the ledger), sources (the Source interface, executors), reference (reference MD as
a Source), ledger (SQLite), campaign (the resumable loop), report (markdown and plots).
"""

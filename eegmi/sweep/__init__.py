"""Sweeps: a grid of ordinary ``eegmi train`` / ``eegmi sae train`` runs.

``spec`` reads the TOML spec into trials (torch-free), ``layout`` says where a trial
lives in the sweep folder and how far it got, ``execute`` runs one trial as child
processes (the same on every runner), ``local`` and ``ray_runner`` schedule the trials,
``table`` reads the results back from disk (the CLI's table and the GUI's), and
``analyse`` is the child that runs the recipes a spec asks for on a finished trial.
"""
